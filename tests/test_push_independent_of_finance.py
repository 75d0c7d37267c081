"""A finance data error fails finance, not billing: the push still sends the day's usage.

The dbt project runs as two steps: the push path (what fct_meter_push_input is built from)
and billing/ledger/finance. A failing ledger test fails only the second step. The opposite
direction (a failing gate on the push input stops the push) is tests/test_quality_gate.py.
"""

import json
import shutil
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from dagster_project.demo import demo_days
from dagster_project.ledger.finance_inputs import ensure_raw_finance_schema
from dagster_project.push.readback import meter_totals
from dagster_project.runner import run_day
from dagster_project.sample_data import configure_stripe
from dagster_project.settings import DBT_PROJECT_DIR
from dagster_project.transform.dbt_assets import metering_dbt_models
from dagster_project.warehouse import connect

UNMAPPED_CUSTOMER = "acct_nobody"  # no Stripe customer carries this metadata.customer_id


def upstream_of(graph, key):
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_push_path_and_finance_are_separate_dbt_steps():
    from dagster import AssetKey

    from dagster_project.definitions import defs
    from dagster_project.transform.dbt_assets import (
        PUSH_INPUT_KEY,
        billing_and_finance_dbt_models,
        metering_dbt_models,
    )

    graph = defs.resolve_asset_graph()
    assert PUSH_INPUT_KEY in metering_dbt_models.keys
    # Every model is built by exactly one of the two steps...
    assert not metering_dbt_models.keys & billing_and_finance_dbt_models.keys
    # ...the ledger, finance and invoice-preview marts by the second one...
    for model in ("fct_ledger_entries", "rpt_mrr", "fct_account_balances", "fct_invoice_preview"):
        assert AssetKey(["marts", model]) in billing_and_finance_dbt_models.keys, model
    # ...and nothing the push reads comes from it, so the push never waits on that step.
    assert not upstream_of(graph, AssetKey("stripe_meter_events")) & billing_and_finance_dbt_models.keys


@pytest.mark.e2e
def test_failing_ledger_test_does_not_stop_the_push(home, emulator, stripe_sdk):
    catalog = configure_stripe(stripe_sdk, customers=1)
    day = demo_days(1)[0]
    folder = home.landing_usage_dir / f"dt={day}"
    folder.mkdir(parents=True)
    at = datetime.combine(day, time(12, 0), tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"event_id": "e1", "customer_id": "acct_0001", "meter": "api_requests", "timestamp": at, "quantity": 5}
    (folder / "events.ndjson").write_text(json.dumps(event) + "\n")
    # A payment for a customer Stripe does not know: it has no Stripe customer, and the
    # finance staging model's not-null test fails (error severity).
    with connect(home.warehouse_path) as con:
        ensure_raw_finance_schema(con)
        con.execute(
            "insert into raw_finance.payments values ('pay_unmapped', ?, 'usd', 1000, ?, null)",
            [UNMAPPED_CUSTOMER, datetime.combine(day, time(9, 0))],
        )

    run = run_day(home, day)

    assert "staging/stg_finance__payments:not_null_stg_finance__payments_stripe_customer_id" in run.failed_checks
    assert not run.success  # the finance step failed, and the run says so (an alert follows)
    assert "marts/fct_ledger_entries" not in run.materialized  # dbt held the ledger back
    # The push path passed its gates and the usage went to Stripe in the same run.
    push_path = {key.to_user_string() for key in metering_dbt_models.keys}
    assert not [c for c in run.failed_checks if c.split(":")[0] in push_path], run.failed_checks
    assert "marts/fct_meter_push_input" in run.materialized
    assert "stripe_meter_events" in run.materialized
    [stripe_customer] = catalog.customers.values()
    totals = meter_totals(stripe_sdk, catalog.meters, [stripe_customer], day - timedelta(days=1), day + timedelta(days=1))
    assert totals == {(stripe_customer, "api_requests"): Decimal(5)}
    # The failed dbt call keeps its directory (its run results say what failed); the
    # successful one's is removed (dagster_project/transform/dbt_assets.py).
    target = DBT_PROJECT_DIR / "target"
    assert not list(target.glob(f"metering_dbt_models-{run.run_id[:7]}-*"))
    [kept] = target.glob(f"billing_and_finance_dbt_models-{run.run_id[:7]}-*")
    results = json.loads((kept / "run_results.json").read_text())["results"]
    assert any(r["status"] == "fail" and "stg_finance__payments" in r["unique_id"] for r in results)
    shutil.rmtree(kept)
