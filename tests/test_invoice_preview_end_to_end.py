"""The invoice preview on the demo data equals Stripe's (the emulator's) upcoming invoice.

Four customers take the four demo plans (pricing_catalog.py): metered sub-cent and graduated
prices; packages, volume tiers, seats, a yearly fee and a forever coupon; JPY with a repeating
coupon and a minimum commitment; a free plan upgraded mid-period (proration) with a once coupon.
One day of usage runs through the whole Dagster job; the reconciliation check must pass and
every preview invoice must equal create_preview's, line by line, in minor units."""

from datetime import timedelta

import pytest

from dagster_project.billing.preview_reconcile import stripe_lines, warehouse_lines
from dagster_project.demo import demo_days
from dagster_project.runner import run_day
from dagster_project.sample_data import configure_stripe, generate_day
from dagster_project.warehouse import connect

pytestmark = pytest.mark.e2e
CUSTOMERS = 4


def test_preview_equals_stripe_for_every_customer(home, emulator, stripe_sdk):
    catalog = configure_stripe(stripe_sdk, customers=CUSTOMERS)
    day = demo_days(1)[0]
    generate_day(home.landing_usage_dir, day, customers=CUSTOMERS, events_per_customer=40)
    run = run_day(home, day)
    assert run.success and not run.failed_checks, run
    assert "invoice_preview_reconciliation" in run.materialized

    with connect(home.warehouse_path, read_only=True) as con:
        ours = warehouse_lines(con)
        kinds = dict(con.execute(
            "select line_type, count(*) from marts.fct_invoice_preview group by 1").fetchall())
        currencies = {r[0] for r in con.execute(
            "select distinct currency from marts.fct_invoice_preview").fetchall()}
        metered_units = con.execute(
            "select sum(quantity) from marts.fct_rated_usage where line_type = 'metered'").fetchone()[0]
        recorded = con.execute(
            "select count(*) from billing.invoice_preview_reconciliation").fetchone()[0]
    # every customer has an invoice; the team customer has a second (yearly) one
    customers = {inv["customer"] for inv in ours.values()}
    assert customers == set(catalog.customers.values())
    assert len(ours) == CUSTOMERS + 1
    # every kind of line and both currencies are exercised
    assert {"metered", "licensed", "proration", "discount", "commitment_true_up"} <= set(kinds)
    assert currencies == {"usd", "jpy"}
    assert metered_units > 0
    assert recorded == 0

    for sub, inv in ours.items():
        preview = stripe_sdk.v1.invoices.create_preview({"subscription": sub})
        assert dict(inv["lines"]) == dict(stripe_lines(preview)), sub
        assert inv["total"] - inv["true_up"] == preview.total, sub
        assert inv["discount"] == sum(d.amount for d in preview.total_discount_amounts), sub
    assert day - timedelta(days=1) < day  # the usage day lies inside the backdated period
