"""The SQL burn-down (int_ledger__credit_burndown, a recursive CTE) against the reference,
dagster_project/ledger/credits.py, on random grants and usage chosen to hit the order's ties:
equal priorities, equal expiries, equal creation times (then grant_id decides, by code point:
upper case before lower case), meter lists with spaces, grants created after the usage day,
expired or not yet effective, negative and zero usage days, several customers and currencies,
facts after the as-of day. The model's compiled SQL runs on the ledger's DuckDB warehouse.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ledger.sqlrunner import Warehouse

DAY0 = date(2026, 11, 1)
CUSTOMERS = ["cus_a", "cus_b"]
CURRENCIES = ["usd", "eur"]
METERS = ["m1", "m2", "m3"]
MIDNIGHT = datetime.min.time()


@pytest.fixture(scope="module")
def wh(compiled):
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Warehouse(compiled, Path(folder))
        yield warehouse
        warehouse.close()


grant = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["g", "G", "a", "B", "g_1", "g-1", "Z9"]),
        # few distinct values, so that the order's ties (and its tie-breakers) come up often
        "customer": st.sampled_from(CUSTOMERS[:1] * 3 + CUSTOMERS),
        "currency": st.sampled_from(CURRENCIES[:1] * 3 + CURRENCIES),
        "amount": st.integers(1, 300),
        "priority": st.sampled_from([0, 50, 50, 100]),
        "effective": st.sampled_from([-1, 0, 0, 3, 6]),  # days after DAY0
        "hour": st.sampled_from([0, 0, 12]),
        "expires_after": st.sampled_from([None, None, 0, 2, 5]),  # days after effective
        "created": st.sampled_from([-1, 0, 0, 2, 8]),  # days after DAY0
        "meters": st.one_of(st.none(), st.sampled_from(["m1", "m2", " m1 , m3", "m2,m3", "m3"])),
    }
)
usage = st.tuples(
    st.sampled_from(CUSTOMERS[:1] * 3 + CUSTOMERS), st.sampled_from(CURRENCIES[:1] * 3 + CURRENCIES), st.sampled_from(METERS),
    st.integers(0, 9), st.integers(-50, 300),
)


def example_rows(grants: list[dict], usage_days: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Grant rows (grant_id, stripe_customer_id, currency, amount, effective_at, expires_at,
    priority, created_at, applicable_meters: credits.burn_down_rows' order) and usage rows
    (accrual_key, stripe_customer_id, currency, meter_event_name, usage_date, accrued_amount)
    of one generated example. Also used on PostgreSQL (tests/test_postgres_portability.py)."""
    grant_rows, seen = [], set()
    for g in grants:
        if g["id"] in seen:
            continue
        seen.add(g["id"])
        effective = datetime.combine(DAY0 + timedelta(days=g["effective"]), MIDNIGHT) + timedelta(hours=g["hour"])
        expires = None if g["expires_after"] is None else effective + timedelta(days=g["expires_after"])
        created = datetime.combine(DAY0 + timedelta(days=g["created"]), MIDNIGHT)
        grant_rows.append((g["id"], g["customer"], g["currency"], g["amount"], effective, expires, g["priority"],
                           created, g["meters"]))
    usage_rows = {}
    for customer, currency, meter, day, amount in usage_days:
        key = f"acc_{customer}_{currency}_{meter}_{day}"
        usage_rows[key] = (key, customer, currency, meter, DAY0 + timedelta(days=day), amount)
    return grant_rows, list(usage_rows.values())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(grants=st.lists(grant, max_size=6), usage_days=st.lists(usage, max_size=14), as_of=st.integers(0, 9))
def test_sql_burn_down_equals_credits_py(wh, grants, usage_days, as_of):
    con = wh.con
    grant_rows, usage_rows = example_rows(grants, usage_days)
    con.execute(f"delete from {wh.table('grants')}")
    for gid, customer, currency, amount, effective, expires, priority, created, meters in grant_rows:
        con.execute(
            f"insert into {wh.table('grants')} (grant_id, customer_id, stripe_customer_id, category, amount, currency,"
            " effective_at, expires_at, priority, applicable_meters, created_at) values (?, ?, ?, 'paid', ?, ?, ?, ?, ?, ?, ?)",
            [gid, customer, customer, amount, currency, effective, expires, priority, meters, created],
        )
    con.execute(f"delete from {wh.table('usage')}")
    for key, customer, currency, meter, usage_date, amount in usage_rows:
        con.execute(
            f"insert into {wh.table('usage')} (accrual_key, stripe_customer_id, customer_id, currency, meter_event_name,"
            " usage_date, accrued_amount) values (?, ?, ?, ?, ?, ?, ?)",
            [key, customer, customer, currency, meter, usage_date, amount],
        )
    wh.set_as_of(DAY0 + timedelta(days=as_of), [])
    assert wh.burn_down() == wh.reference_burn_down()


def test_sql_burn_down_worked_example(wh):
    """By hand: a priority-0 promotion (200, m1 only, expires Nov 3) goes first, then of two
    priority-50 grants the one expiring first (B, 100) before the never-expiring one (a, 1000);
    usage in day order. Nov 1 m1 150: promo 150. Nov 2 m1 80: promo 50, B 30. Nov 2 m2 90: B 70,
    a 20. Nov 3 m1 40: promo expired, a 40. A day of -10 draws nothing; grant z was created
    after the as-of day and takes no part. Ties, customer cus2 (priority 50, no expiry): y is
    older than x, so y (50) goes first for the 60 of m1 on Nov 1 and x gives 10; x pays only m1,
    y is used up, so the 40 of m2 on Nov 2 goes to the priority-60 pair K and k, created at the
    same time: K first by code point (30), then k (10)."""
    con = wh.con
    con.execute(f"delete from {wh.table('grants')}")
    for customer, gid, amount, priority, expires, meters, created in [
        ("cus", "promo", 200, 0, datetime(2026, 11, 3), "m1", datetime(2026, 10, 30)),
        ("cus", "B", 100, 50, datetime(2026, 11, 30), None, datetime(2026, 10, 31)),
        ("cus", "a", 1000, 50, None, None, datetime(2026, 10, 29)),
        ("cus", "z", 1000, 0, None, None, datetime(2026, 11, 5)),
        ("cus2", "y", 50, 50, None, None, datetime(2026, 10, 30)),
        ("cus2", "x", 50, 50, None, "m1", datetime(2026, 10, 31)),
        ("cus2", "k", 30, 60, None, None, datetime(2026, 10, 30)),
        ("cus2", "K", 30, 60, None, None, datetime(2026, 10, 30)),
    ]:
        con.execute(
            f"insert into {wh.table('grants')} (grant_id, customer_id, stripe_customer_id, category, amount, currency,"
            " effective_at, expires_at, priority, applicable_meters, created_at)"
            " values (?, ?, ?, 'paid', ?, 'usd', ?, ?, ?, ?, ?)",
            [gid, customer, customer, amount, datetime(2026, 10, 30), expires, priority, meters, created],
        )
    con.execute(f"delete from {wh.table('usage')}")
    for customer, key, meter, day, amount in [
        ("cus", "u1", "m1", 1, 150), ("cus", "u2", "m1", 2, 80), ("cus", "u3", "m2", 2, 90),
        ("cus", "u4", "m1", 3, 40), ("cus", "u5", "m2", 3, -10), ("cus2", "v1", "m1", 1, 60),
        ("cus2", "v2", "m2", 2, 40),
    ]:
        con.execute(
            f"insert into {wh.table('usage')} (accrual_key, stripe_customer_id, customer_id, currency, meter_event_name,"
            " usage_date, accrued_amount) values (?, ?, ?, 'usd', ?, ?, ?)",
            [key, customer, customer, meter, date(2026, 11, day), amount],
        )
    wh.set_as_of(date(2026, 11, 4), [])
    expected = {("promo", "u1"): 150, ("promo", "u2"): 50, ("B", "u2"): 30, ("B", "u3"): 70,
                ("a", "u3"): 20, ("a", "u4"): 40,
                ("y", "v1"): 50, ("x", "v1"): 10, ("K", "v2"): 30, ("k", "v2"): 10}
    assert wh.burn_down() == expected
    assert wh.reference_burn_down() == expected
