"""`tollgate demo`: configure Stripe (the emulator), land sample usage, run the pipeline for
several days, and print what happened and whether Stripe now agrees with the warehouse."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from dagster_project.settings import Settings
from dagster_project.stripe_client import describe_target, stripe_client
from dagster_project.warehouse import connect


@contextmanager
def stripe_target(settings: Settings) -> Iterator[None]:
    """Use the configured Stripe; else serve the emulator for the whole demo."""
    if os.environ.get("STRIPE_API_BASE") or os.environ.get("STRIPE_API_KEY"):
        yield
        return
    from dagster_project.stripe_emulator.server import EmulatorServer

    with EmulatorServer(settings.emulator_state_dir) as server:
        os.environ["STRIPE_API_BASE"] = server.url
        try:
            yield
        finally:
            os.environ.pop("STRIPE_API_BASE", None)


def demo_days(days: int, today: date | None = None) -> list[date]:
    today = today or datetime.now(UTC).date()
    return [today - timedelta(days=k) for k in range(days, 0, -1)]


def run_demo(settings: Settings, days: int = 3, customers: int = 20) -> int:
    from dagster_project.push.readback import meter_totals
    from dagster_project.runner import run_day
    from dagster_project.sample_data import configure_stripe, generate_day

    started = time.monotonic()
    day_list = demo_days(days)
    with stripe_target(settings):
        print(f"Tollgate demo: {days} days ({day_list[0]} .. {day_list[-1]}), {customers} customers")
        print(f"  home {settings.home}; {describe_target()}")
        with stripe_client(settings.emulator_state_dir) as client:
            catalog = configure_stripe(client, customers)
        print(f"  Stripe: {len(catalog.meters)} meters with metered prices, {len(catalog.customers)} customers with subscriptions")
        for day in day_list:
            generated = generate_day(settings.landing_usage_dir, day, customers)
            print(f"  landed {len(generated.files)} files, {generated.lines} lines for dt={day}")
        _load_finance_facts(settings, day_list)
        ok = True
        logs = settings.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for day in day_list:
            # dbt's own log (echoed by dagster-dbt) goes to a file; the summary says what happened.
            with open(logs / f"demo-run-{day}.log", "w") as log, redirect_stdout(log):
                run = run_day(settings, day, log_level="WARNING")
            ok &= run.success and not run.failed_checks
            status = "success" if run.success else "FAILED"
            checks = f"; failed checks: {', '.join(run.failed_checks)}" if run.failed_checks else ""
            print(f"  run {day}: {status}, {len(run.materialized)} assets materialized{checks} (log: {logs / f'demo-run-{day}.log'})")
        with connect(settings.warehouse_path, read_only=True) as con:
            summary = _warehouse_summary(con)
            finance = _finance_answer(con)
            desired = {
                (c, m): Decimal(v)
                for c, m, v in con.execute(
                    "select stripe_customer_id, meter_event_name, sum(desired_value) "
                    "from marts.fct_meter_push_input group by 1, 2"
                ).fetchall()
                if v
            }
            first, last = con.execute("select min(usage_date), max(usage_date) from marts.fct_meter_push_input").fetchone()
        with stripe_client(settings.emulator_state_dir) as client:
            in_stripe = meter_totals(
                client, catalog.meters, sorted(catalog.customers.values()), first, last + timedelta(days=1)
            )
    matching = sum(in_stripe.get(k) == v for k, v in desired.items())
    extra = len(set(in_stripe) - set(desired))
    print(summary)
    print(
        f"Stripe read back: {matching}/{len(desired)} customer-meter totals equal the warehouse's"
        + (f", {extra} unexpected in Stripe" if extra else "")
    )
    print(finance)
    print(f"Done in {time.monotonic() - started:.0f} s. Browse it: `make ui`, then open http://127.0.0.1:3000")
    return 0 if ok and matching == len(desired) and not extra else 1


def _warehouse_summary(con) -> str:
    files, landed = con.execute("select count(*), sum(lines_landed) from marts.fct_landing_file_accounting").fetchone()
    accepted, duplicates, quarantined = con.execute(
        "select sum(accepted), sum(duplicates), sum(quarantined) from marts.fct_landing_file_accounting"
    ).fetchone()
    reasons = con.execute(
        "select reason, count(*) from intermediate.int_usage_events_quarantined group by 1 order by 2 desc, 1"
    ).fetchall()
    usage = con.execute(
        "select meter_event_name, sum(quantity), sum(event_count) from marts.fct_usage_daily group by 1 order by 1"
    ).fetchall()
    pushed = con.execute(
        """
        select count(*), coalesce(sum(i.value), 0)
        from push.meter_event_intents i
        join push.meter_event_outcomes o on o.identifier = i.identifier and o.outcome = 'delivered'
        """
    ).fetchone()
    lines = [
        f"Landed {files} files, {landed} lines: {accepted} accepted, {duplicates} duplicates, {quarantined} quarantined",
        "  quarantined by reason: " + ", ".join(f"{r} {n}" for r, n in reasons),
        "Accepted usage by meter:",
        *(f"  {m:<18} {q.normalize():>14} from {n} events" for m, q, n in usage),
        f"Pushed to Stripe: {pushed[0]} meter events, {pushed[1]} whole units (fractions carried forward)",
    ]
    return "\n".join(lines)


def _load_finance_facts(settings: Settings, day_list: list[date]) -> None:
    """Credit grants, payments, a refund and a credit note (raw_finance: the emulator has none)."""
    from dagster_project.ledger.finance_inputs import load_demo_finance_facts

    with connect(settings.warehouse_path) as con:
        added = load_demo_finance_facts(con, day_list[0], day_list[-1])
    print(f"  finance inputs: {added} new grants, payments, refunds and credit notes in raw_finance")


def _finance_answer(con) -> str:
    from dagster_project.ledger.report import answer

    return answer(con) + f"\n  report: {settings_reports_hint()}"


def settings_reports_hint() -> str:
    from dagster_project.settings import get_settings

    return str(get_settings().reports_dir / "finance_report.html")
