"""The whole pipeline on embedded defaults: sample data -> Dagster job per day -> Stripe.

Stripe's totals (read back through the SDK) must equal totals computed here, independently,
from the generator's ground truth; a rerun of both days must change nothing."""

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dagster_project.demo import demo_days
from dagster_project.runner import run_day
from dagster_project.sample_data import configure_stripe, generate_day
from dagster_project.warehouse import connect

pytestmark = pytest.mark.e2e
CUSTOMERS = 4


def expected_daily_units(truth, customers):
    """Whole units per (stripe customer, meter, UTC day): floor of the running total, per day."""
    by_day = defaultdict(Decimal)
    for e in truth:
        by_day[(customers[e.customer_id], e.meter, e.timestamp.date())] += e.quantity
    expected, running = {}, defaultdict(Decimal)
    for (customer, meter, day) in sorted(by_day):
        before = running[(customer, meter)]
        running[(customer, meter)] += by_day[(customer, meter, day)]
        units = int(running[(customer, meter)] // 1) - int(before // 1)
        if units:
            expected[(customer, meter, day)] = units
    return expected


def stripe_daily_units(client, catalog, first, last):
    found = {}
    start = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
    end = start + ((last - first).days + 1) * 86400
    for meter, meter_id in catalog.meters.items():
        for customer in catalog.customers.values():
            for s in client.v1.billing.meters.event_summaries.list(
                meter_id,
                {"customer": customer, "start_time": start, "end_time": end, "value_grouping_window": "day", "limit": 100},
            ).auto_paging_iter():
                if s.aggregated_value:
                    day = first + timedelta(days=(s.start_time - start) // 86400)
                    found[(customer, meter, day)] = Decimal(str(s.aggregated_value))
    return found


def warehouse_counts(home):
    with connect(home.warehouse_path, read_only=True) as con:
        return {
            "accounting": con.execute(
                "select sum(lines_landed), sum(accepted), sum(duplicates), sum(quarantined) from marts.fct_landing_file_accounting"
            ).fetchone(),
            "reasons": dict(con.execute("select reason, count(*) from intermediate.int_usage_events_quarantined group by 1").fetchall()),
            "intents": con.execute("select count(*) from push.meter_event_intents").fetchone()[0],
        }


def test_two_days_land_in_stripe_exactly_and_a_rerun_changes_nothing(home, emulator, stripe_sdk):
    catalog = configure_stripe(stripe_sdk, customers=CUSTOMERS)
    days = demo_days(2)
    generated = [generate_day(home.landing_usage_dir, d, customers=CUSTOMERS, events_per_customer=15) for d in days]
    truth = [e for g in generated for e in g.billable]

    for d in days:
        run = run_day(home, d)
        assert run.success and not run.failed_checks, run
        assert "stripe_meter_events" in run.materialized

    # Every line is accounted for, with the reasons the generator planted.
    counts = warehouse_counts(home)
    lines = sum(g.lines for g in generated)
    assert counts["accounting"] == (lines, len(truth), sum(g.duplicates for g in generated), lines - len(truth) - sum(g.duplicates for g in generated))
    assert counts["reasons"] == dict(sum((Counter(g.bad_lines) for g in generated), Counter()))

    expected = expected_daily_units(truth, catalog.customers)
    first_day = min(day for (_, _, day) in expected)
    in_stripe = stripe_daily_units(stripe_sdk, catalog, first_day, days[-1])
    assert in_stripe == expected
    assert sum(expected.values()) > 0

    # Replay both days: no new intent, no new meter event, the same totals in Stripe.
    for d in days:
        run = run_day(home, d)
        assert run.success and not run.failed_checks, run
    assert warehouse_counts(home) == counts
    assert stripe_daily_units(stripe_sdk, catalog, first_day, days[-1]) == expected

    # Late usage for the first day lands with the second day's files: exactly the delta moves.
    with connect(home.warehouse_path, read_only=True) as con:
        before = {r[0] for r in con.execute("select identifier from push.meter_event_intents").fetchall()}
    late_truth = late_events(home, days, catalog)
    run = run_day(home, days[-1])
    assert run.success and not run.failed_checks, run
    expected_after = expected_daily_units(truth + late_truth, catalog.customers)
    assert stripe_daily_units(stripe_sdk, catalog, first_day, days[-1]) == expected_after
    changed = {k for k in set(expected) | set(expected_after) if expected.get(k) != expected_after.get(k)}
    with connect(home.warehouse_path, read_only=True) as con:
        new_intents = [
            row for row in con.execute(
                "select identifier, stripe_customer_id, meter_event_name, usage_date, value "
                "from push.meter_event_intents"
            ).fetchall()
            if row[0] not in before
        ]
    assert changed, "the late events should change at least one day's total"
    assert {(c, m, d) for _, c, m, d, _ in new_intents} == changed
    assert all(expected_after.get((c, m, d), 0) - expected.get((c, m, d), 0) == v for _, c, m, d, v in new_intents)


def late_events(home, days, catalog):
    from dagster_project.sample_data import TruthEvent

    at = datetime(days[0].year, days[0].month, days[0].day, 15, 30, tzinfo=UTC)
    late = [
        TruthEvent("late_1", "acct_0001", "api_requests", at, Decimal(7)),
        TruthEvent("late_2", "acct_0002", "storage_gb_hours", at, Decimal("2.5")),
    ]
    folder = home.landing_usage_dir / f"dt={days[-1]}"
    lines = [
        json.dumps({"event_id": e.event_id, "customer_id": e.customer_id, "meter": e.meter,
                    "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "quantity": str(e.quantity)})
        for e in late
    ]
    (folder / "z_late.ndjson").write_text("\n".join(lines) + "\n")
    return late
