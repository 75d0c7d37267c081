"""Properties of tiered pricing, for the Python reference (the emulator's billing.py) and for the
warehouse's SQL (int_billing__tier_charges, compiled by dbt and run in DuckDB on generated input).

* graduated tiers never charge less when usage grows;
* with a single tier (up_to = inf), volume and graduated charge the same;
* graduated tiers split the quantity exactly: the units of the tiers add up to it;
* the SQL and the Python reference agree on every tier of every generated price and quantity.
"""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.settings import DBT_PROJECT_DIR
from dagster_project.stripe_emulator.billing import Tier, graduated, rate, volume
from tests.conftest import DBT

amounts = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def tier_lists(draw, max_tiers: int = 4) -> list[Tier]:
    bounds = sorted(draw(st.sets(st.integers(1, 1_000_000), min_size=0, max_size=max_tiers - 1)))
    ups: list[int | None] = [*bounds, None]
    return [
        Tier(up, draw(amounts), Decimal(draw(st.integers(0, 10_000)))) for up in ups
    ]


quantities = st.integers(min_value=0, max_value=2_000_000).map(Decimal)


@given(tier_lists(), quantities, quantities)
def test_graduated_never_charges_less_for_more_usage(tiers, q1, q2):
    low, high = sorted((q1, q2))
    assert graduated(low, tiers).amount_exact <= graduated(high, tiers).amount_exact
    assert graduated(low, tiers).amount <= graduated(high, tiers).amount  # after rounding too


@given(amounts, st.integers(0, 10_000), quantities)
def test_single_tier_volume_equals_graduated(unit, flat, quantity):
    tiers = [Tier(None, unit, Decimal(flat))]
    assert volume(quantity, tiers).amount_exact == graduated(quantity, tiers).amount_exact
    # and equals a per-unit price when there is no flat amount
    per_unit = rate({"billing_scheme": "per_unit", "unit_amount_decimal": str(unit)}, quantity)
    if flat == 0:
        assert per_unit.amount == graduated(quantity, tiers).amount


@given(tier_lists(), quantities)
def test_graduated_tiers_split_the_quantity_exactly(tiers, quantity):
    charges = graduated(quantity, tiers).tiers
    assert sum((c.units for c in charges), Decimal(0)) == quantity
    assert all(c.units > 0 for c in charges)


# -- the SQL side ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tier_sql(tmp_path_factory) -> str:
    """int_billing__tier_charges as dbt compiles it (one dbt invocation for the module)."""
    home = tmp_path_factory.mktemp("tier_sql_home")
    env = {**os.environ, "TOLLGATE_HOME": str(home)}
    target = home / "dbt_target"
    subprocess.run(
        [DBT, "compile", "--select", "int_billing__tier_charges", "--project-dir",
         str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path",
         str(target)],
        check=True, capture_output=True, env=env,
    )
    compiled = next(Path(target).rglob("int_billing__tier_charges.sql"))
    return compiled.read_text()


@pytest.fixture(scope="module")
def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("attach ':memory:' as warehouse")
    con.execute("create schema warehouse.intermediate; create schema warehouse.staging")
    con.execute(
        "create table warehouse.intermediate.int_billing__quantities (rated_line_id varchar, "
        "price_id varchar, billing_scheme varchar, tiers_mode varchar, quantity bigint)"
    )
    con.execute(
        "create table warehouse.staging.stg_stripe__price_tiers (price_id varchar, tier_index "
        "bigint, up_to bigint, unit_amount_decimal decimal(38, 12), flat_amount_decimal "
        "decimal(38, 12))"
    )
    yield con
    con.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tier_lists(), st.lists(st.integers(0, 2_000_000), min_size=1, max_size=5), st.sampled_from(["graduated", "volume"]))
def test_sql_tiers_agree_with_the_python_reference(tier_sql, warehouse, tiers, qs, mode):
    con = warehouse
    con.execute("delete from warehouse.intermediate.int_billing__quantities")
    con.execute("delete from warehouse.staging.stg_stripe__price_tiers")
    con.executemany(
        "insert into warehouse.staging.stg_stripe__price_tiers values ('p', ?, ?, ?, ?)",
        [(i, t.up_to, t.unit_amount, t.flat_amount) for i, t in enumerate(tiers, start=1)],
    )
    con.executemany(
        "insert into warehouse.intermediate.int_billing__quantities values (?, 'p', 'tiered', ?, ?)",
        [(f"l{n}", mode, q) for n, q in enumerate(qs)],
    )
    got = {
        (line, idx): (Decimal(units), amount)
        for line, idx, units, amount in con.execute(
            f"select rated_line_id, tier_index, units_in_tier, tier_amount_exact from ({tier_sql})"
        ).fetchall()
    }
    reference = graduated if mode == "graduated" else volume
    want = {
        (f"l{n}", c.index): (c.units, c.amount)
        for n, q in enumerate(qs)
        for c in reference(Decimal(q), tiers).tiers
    }
    assert got == want, json.dumps({"tiers": [str(t) for t in tiers], "qs": qs, "mode": mode})
