"""The Great Expectations gate on the push input: what it rejects, and that it stops the push."""

import json
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import pytest

from dagster_project.demo import demo_days
from dagster_project.push.readback import meter_totals
from dagster_project.quality.gx_suites import validate_frame
from dagster_project.runner import run_day
from dagster_project.sample_data import configure_stripe
from dagster_project.warehouse import connect


def push_input_frame(**overrides) -> pd.DataFrame:
    row = {
        "push_key": "k1", "stripe_customer_id": "cus_123", "meter_event_name": "api_requests",
        "usage_date": date(2026, 11, 20), "desired_value": 10, "event_count": 3,
    }
    return pd.DataFrame([row | overrides])


def test_suite_passes_a_sane_push_input():
    result = validate_frame(push_input_frame(), "fct_meter_push_input")
    assert result.success and result.failures == []


@pytest.mark.parametrize(
    "overrides, failing",
    [
        ({"stripe_customer_id": "acct_0001"}, "expect_column_values_to_match_regex"),
        ({"desired_value": 2_000_000_000_000}, "expect_column_values_to_be_between"),
        ({"meter_event_name": None}, "expect_column_values_to_not_be_null"),
    ],
)
def test_suite_names_what_is_wrong(overrides, failing):
    result = validate_frame(push_input_frame(**overrides), "fct_meter_push_input")
    assert not result.success
    assert [f["expectation"] for f in result.failures] == [failing]
    assert result.failures[0]["unexpected_count"] == 1


@pytest.mark.e2e
def test_failing_gate_stops_the_push_in_the_same_run(home, emulator, stripe_sdk):
    catalog = configure_stripe(stripe_sdk, customers=1)
    day = demo_days(1)[0]
    folder = home.landing_usage_dir / f"dt={day}"
    folder.mkdir(parents=True)
    at = datetime.combine(day, time(12, 0), tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [
        {"event_id": "normal", "customer_id": "acct_0001", "meter": "api_requests", "timestamp": at, "quantity": 5},
        # Valid by the contract, but 2 * 10^12 units in a day is held for a person by the suite.
        {"event_id": "runaway", "customer_id": "acct_0001", "meter": "llm_tokens", "timestamp": at, "quantity": "2000000000000"},
    ]
    (folder / "events.ndjson").write_text("".join(json.dumps(e) + "\n" for e in events))

    run = run_day(home, day)

    assert any(c.endswith(":gx_push_input_suite") for c in run.failed_checks), run.failed_checks
    assert "marts/fct_meter_push_input" in run.materialized  # dbt ran...
    assert "stripe_meter_events" not in run.materialized  # ...but nothing was pushed
    assert meter_totals(stripe_sdk, catalog.meters, list(catalog.customers.values()), day - timedelta(days=1), day + timedelta(days=1)) == {}
    with connect(home.warehouse_path, read_only=True) as con:
        assert not con.execute(
            "select count(*) from information_schema.tables where table_schema = 'push'"
        ).fetchone()[0]
