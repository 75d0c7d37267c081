"""One pipeline, run the way operations runs it, with everything that can go wrong going wrong.

A single scenario (module fixture, four pipeline runs) backs every assertion here:

1. ``tollgate run --from D1 --to D2`` backfills two days of sample usage, plus usage of a
   customer with no Stripe customer and of one with no subscription: it is held, priced, warned
   about, and not pushed.
2. A landing file of hostile lines arrives: the run finishes, every line is quarantined with its
   reason, nothing else in the warehouse changes and nothing is sent to Stripe.
3. The missing customer and subscription appear in Stripe: the next run bills the held usage.
4. A run fails. The alert sensor then turns every failed run and failed check into a structured
   alert, posted to a webhook on 127.0.0.1, and no secret appears anywhere.

STRIPE_API_KEY and TOLLGATE_ALERT_WEBHOOK hold recognisable secrets throughout.
"""

import json
import os
from collections import Counter
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
import stripe

from dagster_project.demo import demo_days
from dagster_project.push.readback import meter_totals
from dagster_project.sample_data import configure_stripe, generate_day
from dagster_project.warehouse import connect
from tests.hostile import hostile_lines
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STRIPE_SECRET = "sk_test_51TollgateSECRETkey0123456789"
WEBHOOK_SECRET = "whk-SECRET-token-987"
HELD_NO_SUBSCRIPTION = "acct_0050"  # a Stripe customer without a subscription
HELD_NO_CUSTOMER = "acct_0060"  # no Stripe customer at all

# Tables whose contents must not change when a hostile file lands (what is billed and pushed).
MONEY_TABLES = {
    "accepted": "select * exclude (file_id, line_number, landed_date) from intermediate.int_usage_events_deduplicated order by event_id",
    "usage_daily": "select * from marts.fct_usage_daily order by usage_daily_id",
    "push_input": "select * from marts.fct_meter_push_input order by push_key",
    "intents": "select identifier, value from push.meter_event_intents order by identifier",
    "outcomes": "select identifier, outcome from push.meter_event_outcomes order by identifier",
    # What the accepted usage is worth: rated lines, the invoice preview, the usage ledger.
    "rated_usage": "select rated_line_id, quantity, amount from marts.fct_rated_usage order by rated_line_id",
    "invoice_preview": "select invoice_preview_line_id, amount, invoice_total from marts.fct_invoice_preview "
    "order by invoice_preview_line_id",
    "usage_ledger": "select entry_id, account, amount from marts.fct_ledger_entries "
    "where transaction_type = 'usage_accrual' order by entry_id",
    "other_files": "select source_file, lines_landed, accepted, duplicates, quarantined from marts.fct_landing_file_accounting "
    "where source_file not like '%hostile%' order by source_file",
}


def snapshot(home) -> dict:
    with connect(home.warehouse_path, read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in MONEY_TABLES.items()}


def held_rows(home) -> list[tuple]:
    with connect(home.warehouse_path, read_only=True) as con:
        return con.execute("select * from marts.fct_usage_held order by held_usage_id").fetchall()


def at(day, hour=12) -> str:
    return datetime.combine(day, time(hour), tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def held_usage_lines(day) -> str:
    events = [
        # 130 requests at 0.05 minor units = 6.5 -> 7 (rounded once, half up)
        {"event_id": "held_1", "customer_id": HELD_NO_SUBSCRIPTION, "meter": "api_requests", "timestamp": at(day), "quantity": 130},
        # 2.5 GB-hours at 0.9 = 2.25 -> 2
        {"event_id": "held_2", "customer_id": HELD_NO_CUSTOMER, "meter": "storage_gb_hours", "timestamp": at(day), "quantity": "2.5"},
        # llm_tokens has a tiered price: not estimated
        {"event_id": "held_3", "customer_id": HELD_NO_CUSTOMER, "meter": "llm_tokens", "timestamp": at(day), "quantity": 100},
    ]
    return "".join(json.dumps(e) + "\n" for e in events)


def subscribe(client, stripe_customer_id: str, meter_ids: list[str]) -> None:
    # The default (USD) price of each meter: the catalogue also has other plans' prices on the
    # same meters, and a subscription's prices share one currency.
    prices = [
        p.id for p in client.v1.prices.list({"limit": 100}).auto_paging_iter()
        if p.recurring and p.recurring.meter in meter_ids and (p.lookup_key or "").startswith("default_")
    ]
    client.v1.subscriptions.create({"customer": stripe_customer_id, "items": [{"price": p} for p in prices]})


def run_events(instance, run_id, event_type):
    return [r.dagster_event for r in instance.all_logs(run_id, of_type=event_type)]


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    from dagster import DagsterInstance, build_sensor_context, job, op

    from dagster_project.cli import main
    from dagster_project.observe.sensors import tollgate_alerts
    from dagster_project.runner import run_day
    from dagster_project.settings import get_settings
    from dagster_project.stripe_emulator.server import EmulatorServer

    root = tmp_path_factory.mktemp("operations")
    facts: dict = {}
    with pytest.MonkeyPatch.context() as mp, Receiver() as receiver:
        server = EmulatorServer(root / "stripe_state").start()
        try:
            mp.setenv("TOLLGATE_HOME", str(root / "home"))
            mp.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
            mp.setenv("STRIPE_API_BASE", server.url)
            mp.setenv("STRIPE_API_KEY", STRIPE_SECRET)
            mp.setenv("TOLLGATE_ALERT_WEBHOOK", f"{receiver.url}/hooks/tollgate?token={WEBHOOK_SECRET}")
            home = get_settings()
            home.dagster_home.mkdir(parents=True)
            client = stripe.StripeClient(STRIPE_SECRET, base_addresses={"api": server.url, "meter_events": server.url})
            catalog = configure_stripe(client, customers=3)
            lonely = client.v1.customers.create({"name": "No subscription", "metadata": {"customer_id": HELD_NO_SUBSCRIPTION}})
            d1, d2 = demo_days(2)
            generated = [generate_day(home.landing_usage_dir, d, customers=3, events_per_customer=10) for d in (d1, d2)]
            (home.landing_usage_dir / f"dt={d1}" / "d_held.ndjson").write_text(held_usage_lines(d1))
            customers = sorted(catalog.customers.values()) + [lonely.id]

            # 1. backfill both days through the CLI
            facts["cli_exit"] = main(["run", "--from", d1.isoformat(), "--to", d2.isoformat()])
            facts["after_backfill"] = snapshot(home)
            facts["held_after_backfill"] = held_rows(home)
            facts["stripe_after_backfill"] = meter_totals(client, catalog.meters, customers, d1, d2)
            instance = DagsterInstance.get()
            facts["backfill_runs"] = [r.dagster_run for r in instance.get_run_records(order_by="create_timestamp", ascending=True)]

            # 2. a hostile file lands on D2
            known = generated[1].billable[0]
            known_event = {"event_id": known.event_id, "customer_id": known.customer_id, "meter": known.meter,
                           "timestamp": at(known.timestamp.date(), known.timestamp.hour), "quantity": str(known.quantity)}
            lines = hostile_lines(d2.isoformat(), known_event)
            hostile = home.landing_usage_dir / f"dt={d2}" / "z_hostile.ndjson"
            hostile.write_bytes(b"\n".join(line for line, _ in lines) + b"\n")
            facts["hostile_expected"] = [reason for _, reason in lines]
            facts["hostile_run"] = run_day(home, d2)
            facts["after_hostile"] = snapshot(home)
            facts["held_after_hostile"] = held_rows(home)
            facts["stripe_after_hostile"] = meter_totals(client, catalog.meters, customers, d1, d2)
            with connect(home.warehouse_path, read_only=True) as con:
                facts["hostile_verdicts"] = con.execute(
                    "select line_number, status, reason from intermediate.int_usage_events_classified "
                    "where source_file like '%z_hostile%' order by line_number"
                ).fetchall()
                facts["hostile_accounting"] = con.execute(
                    "select lines_landed, accepted, duplicates, quarantined from marts.fct_landing_file_accounting "
                    "where source_file like '%z_hostile%'"
                ).fetchall()

            # 3. the mapping appears: a customer for acct_0060, subscriptions for both
            newcomer = client.v1.customers.create({"name": "Late", "metadata": {"customer_id": HELD_NO_CUSTOMER}})
            for customer in (lonely.id, newcomer.id):
                subscribe(client, customer, list(catalog.meters.values()))
            facts["mapped_run"] = run_day(home, d2)
            facts["stripe_after_mapping"] = meter_totals(client, catalog.meters, customers + [newcomer.id], d1, d2)
            facts["held_customers"] = {"no_subscription": lonely.id, "no_customer": newcomer.id}
            with connect(home.warehouse_path, read_only=True) as con:
                facts["held_after_mapping"] = {r[0] for r in con.execute("select customer_id from marts.fct_usage_held").fetchall()}

            # 4. a run fails, with the key in its error (as a careless library might print it)
            @op
            def call_stripe():
                raise RuntimeError(f"authentication failed for {os.environ['STRIPE_API_KEY']}")

            @job
            def failing_job():
                call_stripe()

            facts["failed_run_id"] = failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id

            context = build_sensor_context(instance=instance)
            tollgate_alerts(context)
            facts["alerts_posted"] = list(receiver.alerts)
            facts["webhook_paths"] = {r["path"] for r in receiver.requests}
            again = build_sensor_context(instance=instance, cursor=context.cursor)
            tollgate_alerts(again)
            facts["alerts_posted_twice"] = len(receiver.alerts)
            facts["instance"] = instance
            facts["all_runs"] = [r.dagster_run for r in instance.get_run_records()]
            facts["home"] = home
            facts["catalog"] = catalog
            facts["days"] = (d1, d2)
            facts["generated"] = generated
            yield facts
        finally:
            server.stop()


def test_the_cli_backfills_a_date_range_one_run_per_day_in_order(ops):
    d1, d2 = ops["days"]
    assert ops["cli_exit"] == 0
    runs = [r for r in ops["backfill_runs"] if r.job_name == "daily_invoicing_run"]
    assert [r.tags["dagster/partition"] for r in runs] == [d1.isoformat(), d2.isoformat()]


def test_successful_runs_leave_no_dbt_call_directories_behind(ops):
    # dagster-dbt writes each dbt call to dbt/target/<step>-<run id prefix>-<uuid> (about 7 MB);
    # kept, they would fill the disk one daily run at a time.
    from dagster import DagsterEventType

    from dagster_project.settings import DBT_PROJECT_DIR

    runs = [r for r in ops["backfill_runs"] if r.job_name == "daily_invoicing_run"]
    assert runs and all(r.is_success for r in runs)
    for run in runs:
        steps = {e.step_key for e in run_events(ops["instance"], run.run_id, DagsterEventType.STEP_SUCCESS)}
        assert {"metering_dbt_models", "billing_and_finance_dbt_models"} <= steps, steps
        left = sorted(p.name for p in (DBT_PROJECT_DIR / "target").glob(f"*-{run.run_id[:7]}-*"))
        assert left == [], left


def test_usage_without_customer_or_subscription_is_held_priced_and_not_pushed(ops):
    held = {(row[1], row[5]): row for row in ops["held_after_backfill"]}  # (customer, reason)
    assert set(held) == {
        (HELD_NO_SUBSCRIPTION, "no_subscription"), (HELD_NO_CUSTOMER, "unknown_customer"),
        ("acct_9999", "unknown_customer"),  # the sample data's planted unknown customer
    }
    instance = ops["instance"]
    from dagster import DagsterEventType

    last = ops["backfill_runs"][-1]
    [leak] = [
        e.event_specific_data for e in run_events(instance, last.run_id, DagsterEventType.ASSET_CHECK_EVALUATION)
        if e.event_specific_data.check_name == "revenue_leakage"
    ]
    assert not leak.passed and leak.severity.value == "WARN"
    assert leak.metadata["estimated_amount_at_stake_minor_units"].value == {"usd": 7 + 2}
    assert leak.metadata["rows_not_estimated"].value == 2  # tiered llm_tokens: acct_0060, acct_9999
    assert leak.metadata["customers_held"].value == 3
    assert "not estimated: tiered price" in leak.metadata["held_usage"].value
    pushed_customers = {customer for customer, _ in ops["stripe_after_backfill"]}
    assert ops["held_customers"]["no_subscription"] not in pushed_customers


def test_held_usage_is_billed_once_the_customer_and_subscription_appear(ops):
    run = ops["mapped_run"]
    assert run.success and not run.failed_checks, run
    held = ops["held_after_mapping"]
    assert HELD_NO_SUBSCRIPTION not in held and HELD_NO_CUSTOMER not in held
    assert "acct_9999" in held  # still no such customer: still held
    totals = ops["stripe_after_mapping"]
    assert totals[(ops["held_customers"]["no_subscription"], "api_requests")] == Decimal(130)
    assert totals[(ops["held_customers"]["no_customer"], "storage_gb_hours")] == Decimal(2)  # 2.5: 0.5 carried
    assert totals[(ops["held_customers"]["no_customer"], "llm_tokens")] == Decimal(100)
    # Nobody else's totals moved.
    before = ops["stripe_after_backfill"]
    assert {k: v for k, v in totals.items() if k in before} == before


def test_hostile_file_every_line_accounted_for_with_its_reason(ops):
    run = ops["hostile_run"]
    assert run.success and not run.failed_checks, run
    verdicts = ops["hostile_verdicts"]
    expected = ops["hostile_expected"]
    assert [(n, status, reason) for n, status, reason in verdicts] == [
        (n, "quarantined", reason) for n, reason in enumerate(expected, start=1)
    ]
    assert ops["hostile_accounting"] == [(len(expected), 0, 0, len(expected))]
    assert len(set(expected)) >= 10  # a real variety of reasons
    # The raw-usage suite warns about a day this broken; nothing blocking fails.
    assert "raw_usage_events:gx_raw_usage_events_suite" in run.warned_checks


def test_hostile_file_changes_nothing_else_and_sends_nothing(ops):
    before, after = ops["after_backfill"], ops["after_hostile"]
    for table in MONEY_TABLES:
        assert before[table], table  # a comparison of two empty tables would prove nothing
        assert after[table] == before[table], table
    assert ops["stripe_after_hostile"] == ops["stripe_after_backfill"]
    # Held usage only grew by the hostile lines that are valid events of unknown customers.
    before_held = set(ops["held_after_backfill"])
    new_held = [row for row in ops["held_after_hostile"] if row not in before_held]
    assert new_held and {row[5] for row in new_held} == {"unknown_customer"}
    assert set(ops["held_after_backfill"]) <= set(ops["held_after_hostile"])
    assert "stripe_meter_events" in ops["hostile_run"].materialized  # the push ran, and sent nothing


def test_every_materialization_carries_billing_metadata_and_long_work_logs_progress(ops):
    from dagster import DagsterEventType

    instance, run_id = ops["instance"], ops["hostile_run"].run_id
    metadata = {
        e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in run_events(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION)
    }
    classified = metadata["intermediate/int_usage_events_classified"]
    hostile = Counter(ops["hostile_expected"])
    by_reason = classified["quarantined_by_reason_landed_this_day"].value
    assert all(by_reason[reason] >= n for reason, n in hostile.items())
    assert classified["lines_in_landed_this_day"].value == (
        classified["accepted_landed_this_day"].value + classified["duplicates_landed_this_day"].value
        + classified["quarantined_landed_this_day"].value
    )
    # A daily run's figures are the day's, not history's (reading those would grow every day).
    assert "lines_in" not in classified
    assert metadata["marts/fct_meter_push_input"]["estimated_amount_minor_units_this_usage_day"].value["usd"] > 0
    assert metadata["raw_usage_events"]["lines_loaded"].value == len(ops["hostile_expected"])
    push = metadata["stripe_meter_events"]
    assert push["outbox_meter_events_pending"].value == 0 and push["outbox_meter_events_failed"].value == 0
    assert push["outbox_pushed_units"].value == push["outbox_desired_units"].value > 0
    missing_row_count = [key for key, m in metadata.items() if "/" in key and "dagster/row_count" not in m]
    assert not missing_row_count  # every dbt model and seed

    first = ops["backfill_runs"][0].run_id
    messages = [r.user_message for r in instance.all_logs(first) if r.user_message]
    assert any(m.startswith("ingest dt=") and "files" in m for m in messages)
    assert any(m.startswith("push: ") and "meter events" in m for m in messages)


def test_alerts_for_failed_runs_and_checks_reach_the_webhook_once(ops):
    alerts = ops["alerts_posted"]
    kinds = Counter((a["kind"], a.get("check")) for a in alerts)
    assert kinds[("run_failed", None)] == 1
    assert kinds[("check_failed", "revenue_leakage")] == 4  # every pipeline run while usage is held
    # Both runs of the hostile day (the hostile run and the one after the mapping appeared).
    raw = [a for a in alerts if a.get("check") == "gx_raw_usage_events_suite"]
    assert [a["partition"] for a in raw] == [ops["days"][1].isoformat()] * 2
    [failure] = [a for a in alerts if a["kind"] == "run_failed"]
    assert failure["run_id"] == ops["failed_run_id"] and failure["severity"] == "error"
    assert "authentication failed" in failure["message"]
    leak = next(a for a in alerts if a.get("check") == "revenue_leakage")
    assert leak["severity"] == "warning" and leak["metadata"]["estimated_amount_at_stake_minor_units"] == {"usd": 9}
    assert leak["partition"] and leak["runbook"].startswith("README.md")
    assert ops["alerts_posted_twice"] == len(alerts)  # the next tick sends nothing again
    written = (ops["home"].home / "alerts" / "alerts.jsonl").read_text().splitlines()
    assert len(written) == len(alerts)


def test_no_secret_in_logs_metadata_alerts_or_errors(ops):
    secrets = [STRIPE_SECRET, WEBHOOK_SECRET]
    posted = json.dumps(ops["alerts_posted"])
    assert not any(s in posted for s in secrets)
    # Everything Tollgate wrote: warehouse, alert file, dbt and Dagster storage (event logs,
    # captured stdout/stderr), except the deliberately failing run's own Dagster record (its
    # per-run file, and Dagster's index, which repeats run failures: the event records of
    # every other run are read through the instance below).
    failing = ops["failed_run_id"]
    leaks = []
    for path in Path(ops["home"].home).rglob("*"):
        if path.is_file() and failing not in str(path) and path.name != "index.db":
            data = path.read_bytes()
            leaks += [f"{path}: {s}" for s in secrets if s.encode() in data]
    dbt_logs = Path(__file__).parent.parent / "dbt" / "logs"
    for path in dbt_logs.rglob("*") if dbt_logs.exists() else []:
        if path.is_file():
            leaks += [f"{path}: {s}" for s in secrets if s.encode() in path.read_bytes()]
    # Event log records of every pipeline run (messages and metadata).
    for run in ops["all_runs"]:
        if run.run_id == failing:
            continue
        for record in ops["instance"].all_logs(run.run_id):
            text = str(record)
            leaks += [f"run {run.run_id}: {s}" for s in secrets if s in text]
    assert leaks == []
