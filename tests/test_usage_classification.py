"""dbt classifies every landed line exactly once: accepted, duplicate or quarantined(reason)."""

import json
from datetime import date

import pytest

from dagster_project.ingest.landing import ingest_day
from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema
from dagster_project.transform.dbt_assets import DAILY_BUILD_ARGS
from dagster_project.warehouse import connect
from tests.conftest import run_dbt

DAY = date(2026, 11, 20)


def ev(event_id, **overrides):
    return json.dumps(
        {
            "event_id": event_id, "customer_id": "acct_a", "meter": "api_requests",
            "timestamp": "2026-11-20T10:00:00Z", "quantity": 2, **overrides,
        }
    )


# (line, expected status, expected reason) in file order
CASES = [
    (ev("ok1"), "accepted", None),
    (ev("ok2", quantity="0.25", customer_id="acct_b", timestamp="2026-11-20T23:30:00+02:00"), "accepted", None),
    (ev("ok1"), "duplicate", None),
    (ev("ok1", quantity=3), "quarantined", "conflicting_duplicate"),
    ("{oops", "quarantined", "malformed_json"),
    ("", "quarantined", "empty_line"),
    ("42", "quarantined", "not_an_object"),
    (json.dumps({"event_id": "m1", "customer_id": "acct_a", "timestamp": "2026-11-20T10:00:00Z", "quantity": 1}), "quarantined", "missing_field"),
    (ev("t1", timestamp="2026-11-20T10:00:00"), "quarantined", "invalid_timestamp"),
    (ev("t2", timestamp="yesterday"), "quarantined", "invalid_timestamp"),
    (ev("q1", quantity="ten"), "quarantined", "invalid_quantity"),
    (ev("q2", quantity="NaN"), "quarantined", "invalid_quantity"),
    (ev("q3", quantity=-1), "quarantined", "negative_quantity"),
    (ev("f1", timestamp="2026-11-21T00:06:00Z"), "quarantined", "future_timestamp"),
    (ev("f2", timestamp="2026-11-21T00:04:00Z"), "accepted", None),  # within 5 min of skew
    (ev("l1", timestamp="2026-10-15T10:00:00Z"), "quarantined", "too_late"),
    (ev("u1", meter="teleports"), "quarantined", "unknown_meter"),
    (ev("u2", meter="old_meter"), "quarantined", "unknown_meter"),  # meter is inactive
    (ev("c1", customer_id="acct_zzz"), "quarantined", "unknown_customer"),
    (ev("c2", customer_id="acct_twice"), "quarantined", "ambiguous_customer"),
    (ev("u1", meter="teleports"), "duplicate", None),  # an exact copy is a duplicate, whatever the verdict
    # Revenue at risk: a Stripe customer exists, but no subscription of it bills this meter
    # (none at all; or one that ended before the event).
    (ev("s1", customer_id="acct_nosub", quantity=1), "quarantined", "no_subscription"),
    (ev("s2", customer_id="acct_ended"), "quarantined", "no_subscription"),
    (ev("s3", customer_id="acct_ended", timestamp="2026-11-19T10:00:00Z"), "accepted", None),
    # Text fields are trimmed of spaces: padded ones are accepted, a blank one is missing.
    (ev(" pad1 ", customer_id=" acct_b", meter="api_requests ", timestamp=" 2026-11-20T11:00:00Z",
        quantity=" 1.5 "), "accepted", None),
    (ev("pad2", customer_id="   "), "quarantined", "missing_field"),
]


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("classification")
    old = os.environ.get("TOLLGATE_HOME")
    os.environ["TOLLGATE_HOME"] = str(home)
    try:
        folder = home / "landing" / "usage" / f"dt={DAY}"
        folder.mkdir(parents=True)
        (folder / "events.ndjson").write_text("\n".join(line for line, _, _ in CASES) + "\n")
        with connect(home / "warehouse.duckdb") as con:
            ingest_day(con, home / "landing" / "usage", DAY)
            ensure_raw_stripe_schema(con)
            con.execute(
                "insert into raw_stripe.customers (id, metadata_customer_id) values "
                "('cus_A', 'acct_a'), ('cus_B', 'acct_b'), ('cus_T1', 'acct_twice'), ('cus_T2', 'acct_twice'), "
                "('cus_N', 'acct_nosub'), ('cus_E', 'acct_ended')"
            )
            con.execute(
                "insert into raw_stripe.prices (id, recurring_meter, billing_scheme, unit_amount_decimal, "
                "currency, active) values ('price_1', 'mtr_1', 'per_unit', '0.5', 'usd', true)"
            )
            con.execute(
                "insert into raw_stripe.subscriptions (id, customer, status, ended_at) values "
                "('sub_A', 'cus_A', 'active', null), ('sub_B', 'cus_B', 'active', null), "
                "('sub_E', 'cus_E', 'canceled', '2026-11-20 00:00:00')"
            )
            con.execute(
                "insert into raw_stripe.subscription_items (id, subscription, price) values "
                "('si_A', 'sub_A', 'price_1'), ('si_B', 'sub_B', 'price_1'), ('si_E', 'sub_E', 'price_1')"
            )
            con.execute(
                "insert into raw_stripe.billing_meters (id, event_name, status) values "
                "('mtr_1', 'api_requests', 'active'), ('mtr_2', 'old_meter', 'inactive')"
            )
        run_dbt(*DAILY_BUILD_ARGS)
        with connect(home / "warehouse.duckdb", read_only=True) as con:
            yield {
                "lines": con.execute(
                    "select line_number, status, reason from intermediate.int_usage_events_classified order by line_number"
                ).fetchall(),
                "accounting": con.execute(
                    "select lines_landed, accepted, duplicates, quarantined from marts.fct_landing_file_accounting"
                ).fetchall(),
                "held": con.execute(
                    "select customer_id, stripe_customer_id, reason, quantity, currency, estimated_amount, "
                    "estimate_status from marts.fct_usage_held order by customer_id"
                ).fetchall(),
                "daily": con.execute(
                    "select stripe_customer_id, usage_date, quantity, event_count from marts.fct_usage_daily order by 1, 2"
                ).fetchall(),
            }
    finally:
        if old is None:
            os.environ.pop("TOLLGATE_HOME", None)
        else:
            os.environ["TOLLGATE_HOME"] = old


def test_each_line_gets_its_expected_verdict(classified):
    expected = [(n, status, reason) for n, (_, status, reason) in enumerate(CASES, start=1)]
    assert classified["lines"] == expected


def test_lines_landed_equal_accepted_plus_duplicates_plus_quarantined(classified):
    [(landed, accepted, duplicates, quarantined)] = classified["accounting"]
    assert landed == len(CASES)
    assert (accepted, duplicates, quarantined) == (5, 2, len(CASES) - 7)


def test_daily_usage_counts_each_event_once_in_utc_days(classified):
    from decimal import Decimal

    # ok2 at 23:30+02:00 is 21:30 UTC the same day; f2 (00:04Z) is the next UTC day.
    assert classified["daily"] == [
        ("cus_A", date(2026, 11, 20), Decimal("2"), 1),
        ("cus_A", date(2026, 11, 21), Decimal("2"), 1),
        ("cus_B", date(2026, 11, 20), Decimal("1.75"), 2),  # ok2 and the padded pad1
        ("cus_E", date(2026, 11, 19), Decimal("2"), 1),
    ]


def test_held_usage_is_priced_per_unit_and_rounded_once_half_up(classified):
    from decimal import Decimal

    # price_1: 0.5 minor units per request. 1 request -> 0.5 -> 1 (half up); 2 -> 1.
    assert classified["held"] == [
        ("acct_ended", "cus_E", "no_subscription", Decimal("2"), "usd", 1, "estimated"),
        ("acct_nosub", "cus_N", "no_subscription", Decimal("1"), "usd", 1, "estimated"),
        ("acct_twice", None, "ambiguous_customer", Decimal("2"), "usd", 1, "estimated"),
        ("acct_zzz", None, "unknown_customer", Decimal("2"), "usd", 1, "estimated"),
    ]
