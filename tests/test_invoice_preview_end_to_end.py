"""The invoice preview on the demo data equals Stripe's (the emulator's) upcoming invoice.

Every customer the demo configures (`tollgate demo`'s default count) takes the demo plans in
turn (pricing_catalog.py): metered sub-cent and graduated prices; packages, volume tiers, seats,
a yearly fee and a forever coupon; JPY with a repeating coupon and a minimum commitment; a free
plan upgraded mid-period (proration) with a once coupon. One day of usage (the demo's events per
customer) runs through the whole Dagster job; the reconciliation check must pass and every
preview invoice must equal create_preview's, line by line, in minor units. `tollgate explain`
is checked on the same warehouse (one pipeline run, a module fixture, serves both tests)."""

import inspect
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import stripe

from dagster_project.billing.explain import money, num
from dagster_project.billing.preview_reconcile import stripe_lines, warehouse_lines
from dagster_project.demo import demo_days, run_demo
from dagster_project.pricing_catalog import plan_names
from dagster_project.runner import DayRun, run_day
from dagster_project.sample_data import Catalog, GeneratedDay, configure_stripe, generate_day
from dagster_project.settings import Settings, get_settings
from dagster_project.stripe_emulator.server import EmulatorServer
from dagster_project.warehouse import connect
from tests.emulator.conftest import control

pytestmark = pytest.mark.e2e
CUSTOMERS = inspect.signature(run_demo).parameters["customers"].default  # 20: the demo's own
EVENTS_PER_CUSTOMER = inspect.signature(generate_day).parameters["events_per_customer"].default


@dataclass
class DemoRun:
    home: Settings
    stripe_sdk: stripe.StripeClient
    catalog: Catalog
    day: date
    generated: GeneratedDay
    run: DayRun
    changes: dict[str, str]


def _mid_period_changes(sdk: stripe.StripeClient, server: EmulatorServer, catalog: Catalog) -> dict[str, str]:
    """A change made today, mid-period, on top of the demo's subscriptions: acct_0006 (team)
    deletes its 3 seats; Stripe credits their unused time, a proration whose subscription item
    no longer exists. The emulator clock moves 2 minutes on first, so the change lies after the
    second the subscriptions were created in.
    (A metered price replaced mid-period is not exercised here: the ledger's usage accruals,
    int_ledger__usage_accruals, still accrue the whole period and their tie-out test would fail;
    see the unit test metered_usage_counts_from_when_the_price_took_effect and the emulator's
    test_metered_free_to_paid_upgrade_mid_period_bills_only_usage_after_it.)"""
    control(server, "POST", "clock", {"advance_seconds": 120})
    team = next(s for s in sdk.v1.subscriptions.list({"customer": catalog.customers["acct_0006"]}).data
                if s.metadata["tollgate_plan"] == "team")
    seats = next(i for i in team["items"].data if i.price.recurring.usage_type == "licensed")
    sdk.v1.subscriptions.update(
        team.id, {"items": [{"id": seats.id, "deleted": True}], "proration_behavior": "create_prorations"})
    return {"deleted_item": seats.id}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> DemoRun:
    """The demo's customers, one day of their usage, the whole Dagster job: built once for the
    module (the conftest fixtures home/emulator/stripe_sdk, at module scope)."""
    tmp = tmp_path_factory.mktemp("preview_e2e")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOLLGATE_HOME", str(tmp / "home"))
        mp.setenv("DAGSTER_HOME", str(tmp / "home" / "dagster"))
        mp.delenv("STRIPE_API_KEY", raising=False)
        home = get_settings()
        home.dagster_home.mkdir(parents=True, exist_ok=True)
        server = EmulatorServer(tmp / "stripe_state").start()
        mp.setenv("STRIPE_API_BASE", server.url)
        try:
            sdk = stripe.StripeClient(
                "sk_test_tollgate_tests", base_addresses={"api": server.url, "meter_events": server.url}
            )
            catalog = configure_stripe(sdk, customers=CUSTOMERS)
            changes = _mid_period_changes(sdk, server, catalog)
            day = demo_days(1)[0]
            generated = generate_day(
                home.landing_usage_dir, day, customers=CUSTOMERS, events_per_customer=EVENTS_PER_CUSTOMER
            )
            run = run_day(home, day)
            yield DemoRun(home, sdk, catalog, day, generated, run, changes)
        finally:
            server.stop()


def test_preview_equals_stripe_for_every_customer(demo_run):
    home, stripe_sdk, catalog, day, run = (
        demo_run.home, demo_run.stripe_sdk, demo_run.catalog, demo_run.day, demo_run.run)
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
        periods = con.execute(
            "select distinct subscription_id, invoice_period_start, invoice_period_end"
            " from marts.fct_invoice_preview").fetchall()
        usage = con.execute(
            "select rated_line_id, line_period_start, line_period_end, first_usage_date,"
            " last_usage_date from marts.fct_rated_usage"
            " where line_type = 'metered' and usage_days > 0").fetchall()
        changes = demo_run.changes
        credit = con.execute(
            "select p.amount, p.is_recomputed, count(v.source_id) from intermediate.int_billing__prorations p"
            " left join marts.fct_invoice_preview v on v.source_id = p.invoice_item_id"
            " where p.subscription_item_id = ? group by 1, 2", [changes["deleted_item"]]).fetchall()

    # every customer has an invoice; each team customer has a second (yearly) one
    customers = {inv["customer"] for inv in ours.values()}
    assert len(catalog.customers) == CUSTOMERS
    assert customers == set(catalog.customers.values())
    plans = [plan_names()[(i - 1) % len(plan_names())] for i in range(1, CUSTOMERS + 1)]
    assert len(ours) == CUSTOMERS + plans.count("team")
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

    # The landed day (and the day before, where the late events fall) lie inside every
    # subscription's backdated current period, so the preview bills them: every metered line
    # with usage counts days within its own period, the last one being the landed day.
    midnight = datetime.combine(day, time(0, 0), tzinfo=UTC).replace(tzinfo=None)
    assert len(periods) == len(ours)
    for sub, start, end in periods:
        assert start <= midnight - timedelta(days=1) and midnight < end, (sub, start, end)
    # The deleted seats' credit is on the preview (recomputed to the second; equal to Stripe's
    # by the loop above).
    assert len(credit) == 1 and credit[0][0] < 0 and credit[0][1] and credit[0][2] == 1, credit
    assert usage
    for line, start, end, first, last in usage:
        assert start <= datetime.combine(first, time(0, 0)) and last == day, (line, start, first, last)
        assert datetime.combine(last, time(0, 0)) < end, (line, last, end)


def _tollgate(home: Settings, *args: str) -> str:
    """The real CLI, as a user runs it, against the module's warehouse."""
    env = {**os.environ, "TOLLGATE_HOME": str(home.home)}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "tollgate"), *args],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_explain_prints_every_line_with_how_it_was_computed(demo_run):
    """`tollgate explain` for the freemium customer (acct_0004: free plan upgraded to Pro, tiers,
    a proration pair, a once coupon, a true-up): every preview line with its amount, and the
    usage, tiers, proration factor, discount and event counts behind it. Usage and event counts
    are checked against the events the test generated (not against the warehouse)."""
    assert demo_run.run.success, demo_run.run
    customer = "acct_0004"
    assert plan_names()[3] == "freemium"
    with connect(demo_run.home.warehouse_path, read_only=True) as con:
        cur = con.execute(
            "select * from marts.fct_invoice_preview where customer_id = ? order by line_number",
            [customer],
        )
        names = [c[0] for c in cur.description]
        lines = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        cur = con.execute(
            "select * from intermediate.int_billing__prorations where customer_id = ?", [customer])
        names = [c[0] for c in cur.description]
        prorations = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        meter_of_price = dict(con.execute(
            "select price_id, meter_id from staging.stg_stripe__prices where meter_id is not null"
        ).fetchall())
        event_name = dict(con.execute(
            "select meter_id, event_name from staging.stg_stripe__billing_meters").fetchall())
    assert lines
    period = lines[0]["invoice_period_start"].strftime("%Y-%m")
    out = _tollgate(demo_run.home, "explain", "--customer", customer, "--period", period)
    printed = out.splitlines()
    stripe_id = demo_run.catalog.customers[customer]
    assert printed[0].startswith(f"Invoice preview {lines[0]['subscription_id']} for {customer} ({stripe_id}), USD")

    # every line, numbered, with its type and amount (in dollars), and the totals
    kinds = Counter(line["line_type"] for line in lines)
    assert kinds == {"metered": 3, "licensed": 1, "proration": 2, "commitment_true_up": 1,
                     "discount": 1}, kinds
    for line in lines:
        amount = money(line["amount"], "usd", 2)
        pattern = rf"^\s*{line['line_number']}\. {line['line_type']}\s.*{re.escape(amount)}$"
        assert any(re.match(pattern, p) for p in printed), (pattern, out)
    last = lines[-1]
    assert (f"subtotal {money(last['invoice_subtotal'], 'usd', 2)}, discount "
            f"{money(last['invoice_discount'], 'usd', 2)}, total "
            f"{money(last['invoice_total'], 'usd', 2)}") in out
    assert last["invoice_total"] == last["invoice_subtotal"] - last["invoice_discount"]

    # usage and event counts: the generated events of this customer, per meter
    events: Counter = Counter()
    exact: dict[str, Decimal] = defaultdict(Decimal)
    for e in demo_run.generated.billable:
        if e.customer_id == customer:
            events[e.meter] += 1
            exact[e.meter] += e.quantity
    metered = [line for line in lines if line["line_type"] == "metered"]
    assert {event_name[meter_of_price[m["price_id"]]] for m in metered} == set(events)
    for m in metered:
        meter = event_name[meter_of_price[m["price_id"]]]
        assert f"exact usage {num(exact[meter])} from {events[meter]} events" in out, (meter, out)
        assert f"{num(m['quantity'])} whole units pushed to Stripe on 2 day(s) " \
            f"({demo_run.day - timedelta(days=1)} .. {demo_run.day})" in out, (meter, out)

    # tiers: the free allowance's first tier (1-1,000 at 0), the rest at 0.1 a request
    api = next(m for m in metered if m["description"] == "API (free allowance)")
    assert "graduated tiers (up_to inclusive):" in out
    q = api["quantity"]
    if q > 1000:
        assert "tier 1 (1-1,000): 1,000 x 0 + flat 0 = 0" in out
        assert f"tier 2 (1,001-inf): {num(q - 1000)} x 0.1 + flat 0 = {num((q - 1000) * Decimal('0.1'))}" in out
    else:
        assert f"tier 1 (1-1,000): {num(q)} x 0 + flat 0 = 0" in out
    # the line is rounded once, half up, from the exact amount
    assert api["amount"] == _half_up(max(q - 1000, 0) * Decimal("0.1"))

    # prorations: the factor is the seconds left after the upgrade over the period's seconds;
    # Pro's debit is 4900 x factor and the Free plan's credit 0 x factor, each rounded once
    assert len(prorations) == 2
    for p in prorations:
        left = int((p["period_end"] - p["change_at"]).total_seconds())
        whole = int((p["item_period_end"] - p["item_period_start"]).total_seconds())
        factor = Decimal(left) / Decimal(whole)
        assert 0 < left < whole
        assert f"x {left:,} s / {whole:,} s (factor {factor:.6f}) -> {num(abs(p['amount']))}" in out
        expected = _half_up(Decimal(4900) * left / whole) if p["stripe_amount"] > 0 else 0
        assert abs(p["amount"]) == expected, p
    assert any(line.strip().startswith("credit for unused time after") for line in printed)
    assert any(line.strip().startswith("debit for remaining time after") for line in printed)

    # the discount: $10 once, at most the discountable subtotal
    assert "Discount UPGRADE10 (1000 off, once)" in out
    assert ("coupon UPGRADE10: 1,000 off, at most what earlier coupons left of the discountable "
            "subtotal; once (redeemed ") in out
    assert money(-1000, "usd", 2) in out
    assert "minimum commitment (subscription metadata tollgate_minimum_commitment)" in out

    none = _tollgate(demo_run.home, "explain", "--customer", "acct_9999", "--period", period)
    assert none.strip() == f"No invoice preview for customer 'acct_9999' with a period starting in {period}."



def _half_up(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
