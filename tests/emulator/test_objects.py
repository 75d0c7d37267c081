"""Customers, products, prices, subscriptions and invoices through the real SDK."""

from __future__ import annotations

import pytest
import stripe

from tests.emulator.conftest import T0, control


def test_customers_page_newest_first_across_pages(client: stripe.StripeClient) -> None:
    created = [client.v1.customers.create({"email": f"c{i}@x.test"}).id for i in range(23)]

    first = client.v1.customers.list({"limit": 10})
    assert first.has_more is True
    assert [c.id for c in first.data] == created[::-1][:10]
    assert first.url == "/v1/customers"

    seen = [c.id for c in client.v1.customers.list({"limit": 10}).auto_paging_iter()]
    assert seen == created[::-1]

    back = client.v1.customers.list({"limit": 5, "ending_before": created[10]})
    assert [c.id for c in back.data] == created[15:10:-1]
    assert back.has_more is True


def test_customer_metadata_merges_and_filters(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(
        {"email": "a@x.test", "metadata": {"customer_id": "acme", "tier": "gold"}}
    )
    client.v1.customers.create({"email": "b@x.test"})
    updated = client.v1.customers.update(cus.id, {"metadata": {"tier": "", "region": "eu"}})
    assert updated.metadata.to_dict() == {"customer_id": "acme", "region": "eu"}
    assert client.v1.customers.retrieve(cus.id).metadata["region"] == "eu"

    by_email = client.v1.customers.list({"email": "a@x.test"})
    assert [c.id for c in by_email.data] == [cus.id]
    assert client.v1.customers.list({"created": {"gt": T0}}).data == []
    assert len(client.v1.customers.list({"created": {"gte": T0}}).data) == 2

    deleted = client.v1.customers.delete(cus.id)
    assert deleted.deleted is True
    assert [c.email for c in client.v1.customers.list().data] == ["b@x.test"]


def test_missing_object_is_resource_missing_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.retrieve("cus_nope")
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"
    assert "No such customer: 'cus_nope'" in str(err.value.user_message)


def test_unknown_parameter_is_rejected(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.create({"emial": "typo@x.test"})  # type: ignore[typeddict-unknown-key]
    assert err.value.param == "emial"
    assert err.value.code == "parameter_unknown"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        (
            {"recurring": {"interval": "month", "usage_type": "metered"}, "unit_amount": 1},
            "recurring[meter]",
        ),
        (
            {
                "recurring": {"interval": "month", "usage_type": "metered", "meter": "mtr_missing"},
                "unit_amount": 1,
            },
            "recurring[meter]",
        ),
        ({"unit_amount": 1, "unit_amount_decimal": "1.5"}, "unit_amount"),
        ({}, "unit_amount"),
        ({"billing_scheme": "tiered", "tiers": [{"up_to": "inf", "unit_amount": 1}]}, "tiers_mode"),
        ({"billing_scheme": "tiered", "tiers_mode": "graduated"}, "tiers"),
        (
            {
                "billing_scheme": "tiered",
                "tiers_mode": "volume",
                "tiers": [{"up_to": 10, "unit_amount": 2}, {"up_to": 20, "unit_amount": 1}],
            },
            "tiers[1][up_to]",
        ),
        (
            {"unit_amount": 1, "recurring": {"interval": "month", "interval_count": 13}},
            "recurring[interval_count]",
        ),
        ({"unit_amount_decimal": "0.0000000000001"}, "unit_amount_decimal"),
    ],
)
def test_price_validation_names_the_param(
    client: stripe.StripeClient, params: dict, param: str
) -> None:
    product = client.v1.products.create({"name": "API"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.prices.create({"currency": "usd", "product": product.id, **params})
    assert err.value.http_status == 400
    assert err.value.param == param


def test_inactive_meter_cannot_back_a_price(
    client: stripe.StripeClient, meter: stripe.billing.Meter
) -> None:
    client.v1.billing.meters.deactivate(meter.id)
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.prices.create(
            {
                "currency": "usd",
                "product_data": {"name": "API"},
                "unit_amount": 1,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
            }
        )
    assert err.value.param == "recurring[meter]"


def test_tiered_price_shows_tiers_only_when_expanded(client: stripe.StripeClient) -> None:
    price = client.v1.prices.create(
        {
            "currency": "USD",
            "product_data": {"name": "Storage"},
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": 1000, "unit_amount_decimal": "0.25", "flat_amount": 500},
                {"up_to": "inf", "unit_amount": 0},
            ],
            "lookup_key": "storage_v1",
            "nickname": "storage",
        }
    )
    assert price.currency == "usd"
    assert price.unit_amount is None
    assert "tiers" not in price
    expanded = client.v1.prices.retrieve(price.id, {"expand": ["tiers", "product"]})
    tiers = expanded.tiers
    assert [t.up_to for t in tiers] == [1000, None]
    assert str(tiers[0].unit_amount_decimal) == "0.25"
    assert tiers[0].flat_amount == 500
    assert expanded.product.name == "Storage"

    listed = client.v1.prices.list({"lookup_keys": ["storage_v1"], "expand": ["data.tiers"]})
    assert [p.id for p in listed.data] == [price.id]
    assert len(listed.data[0].tiers) == 2


def test_per_unit_decimal_and_transform(client: stripe.StripeClient) -> None:
    price = client.v1.prices.create(
        {
            "currency": "usd",
            "product_data": {"name": "Tokens"},
            "unit_amount_decimal": "0.0025",
            "transform_quantity": {"divide_by": 1000, "round": "up"},
        }
    )
    assert price.unit_amount is None
    assert str(price.unit_amount_decimal) == "0.0025"
    assert price.transform_quantity.divide_by == 1000
    assert price.type == "one_time"
    whole = client.v1.prices.create(
        {"currency": "usd", "product": price.product, "unit_amount_decimal": "120.00"}
    )
    assert whole.unit_amount == 120
    assert (
        client.v1.prices.list({"product": price.product, "type": "one_time"}).data[0].id == whole.id
    )


def test_metered_subscription_item_periods_follow_the_clock(
    server, client: stripe.StripeClient, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    metered = client.v1.prices.create(
        {
            "currency": "usd",
            "product_data": {"name": "API"},
            "unit_amount_decimal": "0.5",
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    seats = client.v1.prices.create(
        {
            "currency": "usd",
            "product_data": {"name": "Seats"},
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }
    )
    anchor = T0 + 10 * 86400
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": metered.id}, {"price": seats.id, "quantity": 2}],
            "billing_cycle_anchor": anchor,
            "metadata": {"plan": "pro"},
        }
    )
    assert sub.status == "active"
    assert sub.currency == "usd"
    assert sub.billing_cycle_anchor == anchor
    items = {i.price.id: i for i in sub["items"].data}
    assert items[metered.id].quantity is None
    assert items[metered.id].price.recurring.meter == meter.id
    assert items[seats.id].quantity == 2
    assert (items[metered.id].current_period_start, items[metered.id].current_period_end) == (
        T0,
        anchor,
    )

    control(server, "POST", "clock", {"advance_seconds": 15 * 86400})  # 2026-11-17
    moved = client.v1.subscriptions.retrieve(sub.id)["items"].data[0]
    assert moved.current_period_start == anchor  # 2026-11-12
    assert moved.current_period_end == anchor + 31 * 86400 - 1 * 86400  # 2026-12-12

    listed = client.v1.subscriptions.list({"customer": customer.id, "price": metered.id})
    assert [s.id for s in listed.data] == [sub.id]

    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled"
    assert client.v1.subscriptions.list({"customer": customer.id}).data == []
    assert [s.id for s in client.v1.subscriptions.list({"status": "all"}).data] == [sub.id]


def test_subscription_rejects_quantity_on_metered_item(
    client: stripe.StripeClient, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    metered = client.v1.prices.create(
        {
            "currency": "usd",
            "product_data": {"name": "API"},
            "unit_amount": 1,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": metered.id, "quantity": 3}]}
        )
    assert err.value.param == "items[0][quantity]"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.subscriptions.create(
            {"customer": "cus_missing", "items": [{"price": metered.id}]}
        )
    assert err.value.param == "customer"
    assert client.v1.subscriptions.list({"status": "all"}).data == []


def test_subscription_update_adds_items_and_cancels_at_period_end(
    server, client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    monthly = client.v1.prices.create(
        {
            "currency": "usd",
            "product_data": {"name": "Base"},
            "unit_amount": 500,
            "recurring": {"interval": "month"},
        }
    )
    extra = client.v1.prices.create(
        {
            "currency": "usd",
            "product_data": {"name": "Extra"},
            "unit_amount": 100,
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": monthly.id}]}
    )
    updated = client.v1.subscriptions.update(
        sub.id,
        {
            "items": [{"price": extra.id, "quantity": 3}],
            "cancel_at_period_end": True,
            "metadata": {"k": "v"},
        },
    )
    assert len(updated["items"].data) == 2
    assert updated.cancel_at_period_end is True
    period_end = updated["items"].data[0].current_period_end
    assert updated.cancel_at == period_end
    assert updated.metadata["k"] == "v"
    page = client.v1.subscription_items.list({"subscription": sub.id})
    assert {i.price.id for i in page.data} == {monthly.id, extra.id}

    control(server, "POST", "clock", {"set": period_end + 1})
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"


def test_invoices_exist_with_lines_list(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    price = client.v1.prices.create(
        {
            "currency": "eur",
            "product_data": {"name": "Base"},
            "unit_amount": 500,
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    invoice = client.v1.invoices.create({"customer": customer.id, "subscription": sub.id})
    assert invoice.id.startswith("in_")
    assert invoice.status == "draft"
    assert invoice.currency == "eur"
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.lines.data == [] and invoice.lines.url == f"/v1/invoices/{invoice.id}/lines"
    other = client.v1.invoices.create({"customer": customer.id, "currency": "usd"})

    assert [i.id for i in client.v1.invoices.list({"subscription": sub.id}).data] == [invoice.id]
    assert [i.id for i in client.v1.invoices.list({"customer": customer.id}).data] == [
        other.id,
        invoice.id,
    ]
    assert client.v1.invoices.list({"status": "paid"}).data == []
    assert client.v1.invoices.line_items.list(invoice.id).data == []
    assert client.v1.invoices.retrieve(invoice.id).total == 0
