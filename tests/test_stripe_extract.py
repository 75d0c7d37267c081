"""Stripe snapshots through the SDK: pagination past one page, exact decimals, items flattened."""

import json

from dagster_project.ingest.stripe_extract import (
    ensure_raw_stripe_schema,
    extract_customers,
    extract_invoices,
    extract_prices,
    extract_subscriptions,
)
from dagster_project.warehouse import connect


def test_customers_beyond_one_page_are_all_copied_once(home, stripe_sdk):
    for i in range(150):  # the extractor asks for pages of 100
        stripe_sdk.v1.customers.create({"metadata": {"customer_id": f"acct_{i:04d}"}})
    with connect(home.warehouse_path) as con:
        ensure_raw_stripe_schema(con)
        assert extract_customers(stripe_sdk, con) == {"customers": 150}
        assert extract_customers(stripe_sdk, con) == {"customers": 150}  # a snapshot, replaced
        keys = con.execute("select count(distinct metadata_customer_id), count(*) from raw_stripe.customers").fetchone()
    assert keys == (150, 150)


def test_prices_keep_exact_decimals_and_tiers_and_subscription_items_carry_periods(home, stripe_sdk):
    meter = stripe_sdk.v1.billing.meters.create(
        {"display_name": "Tokens", "event_name": "tokens", "default_aggregation": {"formula": "sum"}}
    )
    product = stripe_sdk.v1.products.create({"name": "Inference"})
    per_unit = stripe_sdk.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount_decimal": "0.000123456789",
         "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id}}
    )
    tiered = stripe_sdk.v1.prices.create(
        {"product": product.id, "currency": "usd", "billing_scheme": "tiered", "tiers_mode": "graduated",
         "tiers": [{"up_to": 1000, "unit_amount": 0}, {"up_to": "inf", "unit_amount_decimal": "0.25", "flat_amount": 100}],
         "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id}}
    )
    customer = stripe_sdk.v1.customers.create({"metadata": {"customer_id": "acct_1"}})
    sub = stripe_sdk.v1.subscriptions.create({"customer": customer.id, "items": [{"price": per_unit.id}, {"price": tiered.id}]})
    with connect(home.warehouse_path) as con:
        ensure_raw_stripe_schema(con)
        extract_prices(stripe_sdk, con)
        extract_subscriptions(stripe_sdk, con)
        prices = dict(con.execute("select id, unit_amount_decimal from raw_stripe.prices").fetchall())
        tiers = json.loads(con.execute("select tiers from raw_stripe.prices where id = ?", [tiered.id]).fetchone()[0])
        items = con.execute(
            "select subscription, price, current_period_start < current_period_end from raw_stripe.subscription_items order by price"
        ).fetchall()
    assert prices[per_unit.id] == "0.000123456789"
    assert [(t["up_to"], t["unit_amount_decimal"], t["flat_amount"]) for t in tiers] == [(1000, "0", None), (None, "0.25", 100)]
    assert sorted(items) == sorted([(sub.id, per_unit.id, True), (sub.id, tiered.id, True)])


def test_item_versions_are_appended_once_per_change_and_lines_name_their_item(home, stripe_sdk):
    """A seat change in Stripe adds one version to raw_stripe.subscription_item_versions (the
    earlier one stays); re-extracting unchanged items adds nothing. The proration lines Stripe
    invoices for the change carry their subscription item and proration flag (line.parent)."""
    product = stripe_sdk.v1.products.create({"name": "Seats"})
    seat = stripe_sdk.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount": 1000,
         "recurring": {"interval": "month", "usage_type": "licensed"}}
    )
    customer = stripe_sdk.v1.customers.create({"metadata": {"customer_id": "acct_1"}})
    sub = stripe_sdk.v1.subscriptions.create({"customer": customer.id, "items": [{"price": seat.id, "quantity": 3}]})
    item_id = sub["items"]["data"][0]["id"]

    def versions(con):
        return con.execute(
            "select id, subscription_item, subscription, price, quantity from raw_stripe.subscription_item_versions "
            "order by observed_at, id"
        ).fetchall()

    with connect(home.warehouse_path) as con:
        ensure_raw_stripe_schema(con)
        assert extract_subscriptions(stripe_sdk, con)["subscription_item_versions"] == 1
        first = versions(con)
        assert extract_subscriptions(stripe_sdk, con)["subscription_item_versions"] == 0  # a rerun: nothing
        assert versions(con) == first
    assert [v[1:] for v in first] == [(item_id, sub.id, seat.id, 3)]

    stripe_sdk.v1.subscriptions.update(
        sub.id, {"items": [{"id": item_id, "quantity": 5}], "proration_behavior": "always_invoice"}
    )
    with connect(home.warehouse_path) as con:
        assert extract_subscriptions(stripe_sdk, con)["subscription_item_versions"] == 1
        assert extract_subscriptions(stripe_sdk, con)["subscription_item_versions"] == 0
        after = versions(con)
        extract_invoices(stripe_sdk, con)
        lines = con.execute(
            "select subscription_item, proration, quantity, sign(amount) from raw_stripe.invoice_lines order by amount"
        ).fetchall()
    assert after[0] == first[0]  # append-only: the first version is still there, unchanged
    assert [v[1:] for v in after] == [(item_id, sub.id, seat.id, 3), (item_id, sub.id, seat.id, 5)]
    assert len({v[0] for v in after}) == 2
    # the credit for 3 unused seats and the debit for 5, both prorations of the item
    assert lines == [(item_id, True, 3, -1), (item_id, True, 5, 1)]


def test_a_warehouse_from_before_the_new_columns_gets_them(home):
    """raw_stripe tables created by an earlier version gain the columns added since (null)."""
    with connect(home.warehouse_path) as con:
        con.execute("create schema raw_stripe")
        con.execute("create table raw_stripe.invoice_lines (id varchar, invoice varchar, amount bigint)")
        con.execute("insert into raw_stripe.invoice_lines values ('il_1', 'in_1', 100)")
        ensure_raw_stripe_schema(con)
        row = con.execute("select id, subscription_item, proration from raw_stripe.invoice_lines").fetchall()
        versions = con.execute("select count(*) from raw_stripe.subscription_item_versions").fetchone()
    assert row == [("il_1", None, None)]
    assert versions == (0,)
