"""The emulator's upcoming invoice (POST /v1/invoices/create_preview), coupons and prorations,
through the real SDK. Every expected amount is worked out by hand in the comments."""

from __future__ import annotations

import pytest
import stripe

from tests.emulator.conftest import T0, control

DAY = 86400
PERIOD = 30 * DAY  # 2026-11-02 .. 2026-12-02


def _meter(client: stripe.StripeClient, name: str) -> str:
    return client.v1.billing.meters.create(
        {"display_name": name, "event_name": name, "default_aggregation": {"formula": "sum"}}
    ).id


def _metered(client: stripe.StripeClient, meter: str, currency: str = "usd", **price) -> str:
    return client.v1.prices.create(
        {
            "currency": currency,
            "product_data": {"name": meter},
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter},
            **price,
        }
    ).id


def _use(client: stripe.StripeClient, event: str, customer: str, value: int, ts: int) -> None:
    client.v1.billing.meter_events.create(
        {"event_name": event, "timestamp": ts, "payload": {"stripe_customer_id": customer, "value": str(value)}}
    )


def _lines(invoice) -> dict[str, int]:
    return {line.pricing.price_details.price: line.amount for line in invoice.lines.data}


def test_preview_rates_tiers_packages_volume_seats_and_a_percent_coupon(
    server, client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    calls, tokens, storage = (_meter(client, n) for n in ("calls", "tokens", "storage"))
    graduated = _metered(
        client,
        calls,
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[
            {"up_to": 1000, "unit_amount": 0},  # included allowance
            {"up_to": 5000, "unit_amount_decimal": "0.5", "flat_amount": 100},
            {"up_to": "inf", "unit_amount_decimal": "0.25"},
        ],
    )
    package = _metered(
        client, tokens, unit_amount=300, transform_quantity={"divide_by": 1000, "round": "up"}
    )
    volume = _metered(
        client,
        storage,
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[
            {"up_to": 10, "unit_amount": 50},
            {"up_to": "inf", "unit_amount_decimal": "40.5", "flat_amount": 1000},
        ],
    )
    seats = client.v1.prices.create(
        {"currency": "usd", "product_data": {"name": "Seats"}, "unit_amount": 2000,
         "recurring": {"interval": "month"}}
    ).id
    ten = client.v1.coupons.create({"percent_off": 10, "duration": "forever"})
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": graduated}, {"price": package}, {"price": volume},
                      {"price": seats, "quantity": 3}],
            "discounts": [{"coupon": ten.id}],
        }
    )
    control(server, "POST", "clock", {"advance_seconds": DAY})  # usage lies in the past
    _use(client, "calls", customer.id, 6001, T0 + 3600)
    _use(client, "calls", customer.id, 5, T0 - 60)  # before the period: not on this invoice
    _use(client, "tokens", customer.id, 2500, T0 + 7200)
    _use(client, "storage", customer.id, 13, T0 + 60)

    invoice = client.v1.invoices.create_preview({"customer": customer.id, "subscription": sub.id})

    # graduated 6001: 1000 x 0 + (4000 x 0.5 + flat 100) + 1001 x 0.25 = 0 + 2100 + 250.25
    #   = 2350.25 -> 2350
    # package 2500 tokens / 1000 = 2.5 -> up -> 3 packages x 300 = 900
    # volume 13 units: all in tier 2: 13 x 40.5 + 1000 = 1526.5 -> half up -> 1527
    #   (half to even would give 1526: this line tells the two rules apart)
    # seats 3 x 2000 = 6000, for the next period, in advance
    assert _lines(invoice) == {graduated: 2350, package: 900, volume: 1527, seats: 6000}
    # 10 % of 10777 = 1077.7 -> 1078; total 10777 - 1078 = 9699
    assert invoice.subtotal == 10777
    assert [d.amount for d in invoice.total_discount_amounts] == [1078]
    assert invoice.total == 9699
    assert invoice.id.startswith("upcoming_in_")
    assert (invoice.period_start, invoice.period_end) == (T0, T0 + PERIOD)
    by_price = {line.pricing.price_details.price: line for line in invoice.lines.data}
    assert (by_price[seats].period.start, by_price[seats].period.end) == (T0 + PERIOD, T0 + PERIOD + 31 * DAY)
    assert by_price[graduated].quantity == 6001
    # A preview is not an invoice: nothing was stored.
    assert client.v1.invoices.list({"customer": customer.id}).data == []


def test_upgrade_mid_period_prorates_to_the_second_and_once_coupon(
    server, client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    basic = client.v1.prices.create(
        {"currency": "usd", "product_data": {"name": "Basic"}, "unit_amount": 1000,
         "recurring": {"interval": "month"}}
    ).id
    pro = client.v1.prices.create(
        {"currency": "usd", "product_data": {"name": "Pro"}, "unit_amount": 2500,
         "recurring": {"interval": "month"}}
    ).id
    five_off = client.v1.coupons.create({"amount_off": 500, "currency": "usd", "duration": "once"})
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": basic}], "discounts": [{"coupon": five_off.id}]}
    )
    item = sub["items"].data[0].id
    control(server, "POST", "clock", {"advance_seconds": 7 * DAY})
    client.v1.subscriptions.update(sub.id, {"items": [{"id": item, "price": pro}]})

    pending = client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data
    # 23 of 30 days left: Basic 1000 x 23/30 = 766.67 -> credit -767;
    # Pro 2500 x 23/30 = 1916.67 -> debit 1917
    assert sorted(i.amount for i in pending) == [-767, 1917]
    assert all(i.proration and not i.discountable for i in pending)
    assert {(i.period.start, i.period.end) for i in pending} == {(T0 + 7 * DAY, T0 + PERIOD)}

    invoice = client.v1.invoices.create_preview({"subscription": sub.id})
    amounts = sorted(line.amount for line in invoice.lines.data)
    assert amounts == [-767, 1917, 2500]  # + Pro for the next period
    # $5 once, on the discountable 2500 only (prorations are not discountable)
    assert [d.amount for d in invoice.total_discount_amounts] == [500]
    assert invoice.total == 2500 - 767 + 1917 - 500  # 3150


def test_proration_behavior_none_and_always_invoice(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    seats = client.v1.prices.create(
        {"currency": "usd", "product_data": {"name": "Seats"}, "unit_amount": 900,
         "recurring": {"interval": "month"}}
    ).id
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seats}]})
    item = sub["items"].data[0].id
    client.v1.subscriptions.update(
        sub.id, {"items": [{"id": item, "quantity": 2}], "proration_behavior": "none"}
    )
    assert client.v1.invoice_items.list({"customer": customer.id}).data == []
    client.v1.subscriptions.update(
        sub.id, {"items": [{"id": item, "quantity": 3}], "proration_behavior": "always_invoice"}
    )
    # The whole period is left (clock at the start): -2 x 900, +3 x 900, invoiced at once.
    invoices = client.v1.invoices.list({"subscription": sub.id}).data
    assert len(invoices) == 1 and invoices[0].total == 900
    assert client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data == []
    preview = client.v1.invoices.create_preview({"subscription": sub.id})
    assert [line.amount for line in preview.lines.data] == [2700]


def test_zero_decimal_currency_and_repeating_coupon_ends(
    server, client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    calls = _meter(client, "calls")
    yen = _metered(client, calls, currency="jpy", unit_amount_decimal="0.5")
    twenty = client.v1.coupons.create(
        {"percent_off": 20, "duration": "repeating", "duration_in_months": 3}
    )
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": yen}], "discounts": [{"coupon": twenty.id}]}
    )
    discount = client.v1.subscriptions.retrieve(sub.id, {"expand": ["discounts"]}).discounts[0]
    assert discount.source.coupon == twenty.id
    assert discount.end == T0 + (30 + 31 + 31) * DAY  # 2027-02-02: three months later

    _use(client, "calls", customer.id, 3, T0 + 10)
    first = client.v1.invoices.create_preview({"subscription": sub.id})
    # 3 x 0.5 yen = 1.5 -> 2 yen (JPY has no minor unit below the yen); 20 % of 2 = 0.4 -> 0
    assert first.currency == "jpy" and first.subtotal == 2 and first.total == 2

    _use(client, "calls", customer.id, 1001, T0 + 20)
    # 1004 x 0.5 = 502 yen; 20 % = 100.4 -> 100; total 402
    assert client.v1.invoices.create_preview({"subscription": sub.id}).total == 402

    control(server, "POST", "clock", {"advance_seconds": (30 + 31 + 31 + 28) * DAY})  # 2027-03-02
    later = client.v1.invoices.create_preview({"subscription": sub.id})
    assert later.total_discount_amounts == []  # the invoice of 2027-04-02 is past the end


def test_coupon_validation_names_the_param(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.coupons.create({"percent_off": 10, "amount_off": 5, "currency": "usd"})
    assert err.value.param == "percent_off"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.coupons.create({"percent_off": 10, "duration": "repeating"})
    assert err.value.param == "duration_in_months"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.coupons.create({"percent_off": 101})
    assert err.value.param == "percent_off"
    coupon = client.v1.coupons.create({"id": "LAUNCH", "percent_off": 12.5, "duration": "once"})
    assert coupon.percent_off == 12.5
    assert client.v1.coupons.retrieve("LAUNCH").duration == "once"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.create_preview({"customer": "cus_x"})


@pytest.mark.parametrize("how", ["swap_price_on_the_item", "replace_the_item"])
def test_metered_free_to_paid_upgrade_mid_period_bills_only_usage_after_it(
    server, client: stripe.StripeClient, customer: stripe.Customer, how: str
) -> None:
    """Stripe, classic billing mode ("Manage your usage-based billing setup", Update prices
    mid-cycle): after switching a metered price A -> B on January 16, "the invoice includes usage
    from January 16 to January 31 at price B. Usage from January 1 to January 16 isn't billed";
    an item added mid-cycle bills from its addition; a deleted item's usage is not invoiced."""
    calls = _meter(client, "calls")
    free = _metered(client, calls, unit_amount=0)
    paid = _metered(client, calls, unit_amount=2)  # 2 cents a call
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": free}]})
    item = sub["items"].data[0].id
    change = T0 + 10 * DAY
    control(server, "POST", "clock", {"advance_seconds": 10 * DAY})
    _use(client, "calls", customer.id, 1000, T0 + 3600)  # on the free plan
    _use(client, "calls", customer.id, 40, change - 60)  # a minute before the upgrade
    if how == "swap_price_on_the_item":
        client.v1.subscriptions.update(sub.id, {"items": [{"id": item, "price": paid}]})
    else:
        client.v1.subscriptions.update(
            sub.id, {"items": [{"id": item, "deleted": True}, {"price": paid}]}
        )
    control(server, "POST", "clock", {"advance_seconds": DAY})
    _use(client, "calls", customer.id, 300, change)  # at the upgrade instant: counts
    _use(client, "calls", customer.id, 5, change + 3600)

    invoice = client.v1.invoices.create_preview({"subscription": sub.id})
    # Only usage in [change, period end) at the paid price: (300 + 5) x 2 = 610. The 1040 calls
    # before the change are not billed at all (not at the free price, not at the paid one:
    # rating the whole period at the paid price would give 1345 x 2 = 2690).
    assert _lines(invoice) == {paid: 610}
    (line,) = invoice.lines.data
    assert line.quantity == 305
    assert (line.period.start, line.period.end) == (change, T0 + PERIOD)
    assert invoice.total == 610
    # Metered items are not prorated: no pending invoice items.
    assert client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data == []
    # The bookkeeping date is not part of the item's API shape.
    assert "_usage_since" not in client.v1.subscriptions.retrieve(sub.id)["items"].data[0]


def test_several_coupons_stack_one_after_another_and_never_below_zero(
    server, client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    seats = client.v1.prices.create(
        {"currency": "usd", "product_data": {"name": "Seats"}, "unit_amount": 3500,
         "recurring": {"interval": "month"}}
    ).id
    twenty = client.v1.coupons.create({"percent_off": 20, "duration": "forever"}).id
    five = client.v1.coupons.create({"percent_off": 5, "duration": "forever"}).id
    fifty = client.v1.coupons.create({"amount_off": 5000, "currency": "usd", "duration": "forever"}).id
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": seats}], "discounts": [{"coupon": twenty}]}
    )
    control(server, "POST", "clock", {"advance_seconds": DAY})
    client.v1.subscriptions.update(
        sub.id, {"discounts": [{"coupon": twenty}, {"coupon": five}, {"coupon": fifty}]}
    )
    invoice = client.v1.invoices.create_preview({"subscription": sub.id})
    # 3500: 20 % -> 700, 2800 left; 5 % of 2800 -> 140 (not 5 % of 3500 = 175), 2660 left;
    # 5000 off, capped at what is left -> 2660: the invoice never goes below 0.
    assert invoice.subtotal == 3500
    assert [d.amount for d in invoice.total_discount_amounts] == [700, 140, 2660]
    assert invoice.total == 0

    client.v1.subscriptions.update(sub.id, {"discounts": [{"coupon": twenty}, {"coupon": five}]})
    # $35 x 0.80 x 0.95 = $26.60 (adding the percentages, 25 %, would give $26.25)
    assert client.v1.invoices.create_preview({"subscription": sub.id}).total == 2660
