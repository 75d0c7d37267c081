"""The same dbt project on PostgreSQL: the same input gives the same marts as on DuckDB, every
data test and unit test passes there, and Dagster's own storage can live in PostgreSQL."""

import os
from datetime import date
from decimal import Decimal

import pytest

from dagster_project.ingest.landing import ingest_day
from dagster_project.ingest.stripe_extract import TABLES, ensure_raw_stripe_schema
from dagster_project.ledger.finance_inputs import RAW_FINANCE_DDL
from dagster_project.sample_data import METERS, customer_key, generate_day
from dagster_project.transform.dbt_assets import DAILY_BUILD_ARGS
from dagster_project.warehouse import RAW_DDL, connect
from tests.conftest import run_dbt

# The ledger's credit burn-down is a dbt Python model (dbt-postgres runs none) and a ledger test
# uses `qualify`; the finance models use DuckDB interval literals: DuckDB-only for now.
NOT_YET_PORTABLE_FOLDERS = (
    "models/intermediate/ledger", "models/intermediate/finance", "models/marts/ledger", "models/marts/finance",
)
NOT_YET_PORTABLE = tuple(f"path:{folder}" for folder in NOT_YET_PORTABLE_FOLDERS)
assert DAILY_BUILD_ARGS == ["build", "--exclude", "test_type:unit"]
POSTGRES_BUILD_ARGS = [*DAILY_BUILD_ARGS, *NOT_YET_PORTABLE]

pytestmark = pytest.mark.postgres
DAYS = [date(2026, 11, 20), date(2026, 11, 21)]
CUSTOMERS = 5  # acct_0005 is not in Stripe: its usage is held as unknown_customer

COMPARED = {
    "fct_usage_daily": "select usage_daily_id, stripe_customer_id, meter_event_name, usage_date, quantity, event_count from marts.fct_usage_daily order by 1",
    "fct_meter_push_input": "select push_key, usage_date, quantity, cumulative_quantity, desired_value, carried_remainder from marts.fct_meter_push_input order by 1",
    "fct_landing_file_accounting": "select file_id, lines_landed, accepted, duplicates, quarantined from marts.fct_landing_file_accounting order by 1",
    "classified": "select file_id, line_number, status, reason from intermediate.int_usage_events_classified order by 1, 2",
}


def normalise(rows):
    return [tuple(Decimal(v).normalize() if isinstance(v, Decimal) else v for v in r) for r in rows]


def copy_raw_to_postgres(duck, pg) -> dict[str, int]:
    """raw.* and raw_stripe.* with the same DDL (portable types) and the same rows."""
    from psycopg2.extras import execute_values

    copied = {}
    with pg.cursor() as cur:
        cur.execute(RAW_DDL)
        cur.execute(RAW_FINANCE_DDL)
        cur.execute("create schema if not exists raw_stripe")
        for table in TABLES.values():
            cur.execute(table.ddl())
        names = ["raw.landing_manifest", "raw.landing_duplicate_files", "raw.usage_events"]
        names += [f"raw_stripe.{t}" for t in TABLES]
        names += [f"raw_finance.{t}" for t in ("credit_grants", "payments", "refunds", "credit_notes")]
        for name in names:
            rows = duck.execute(f"select * from {name}").fetchall()
            if rows:
                execute_values(cur, f"insert into {name} values %s", rows)
            copied[name] = len(rows)
    return copied


def fetch_duckdb(home):
    with connect(home.warehouse_path, read_only=True) as con:
        return {k: normalise(con.execute(q).fetchall()) for k, q in COMPARED.items()}


def fetch_postgres(pg):
    out = {}
    with pg.cursor() as cur:
        for k, q in COMPARED.items():
            cur.execute(q)
            out[k] = normalise(cur.fetchall())
    return out


@pytest.fixture(scope="module")
def both_warehouses(pg_server, tmp_path_factory):
    """Two landing days built day by day (incrementally) on DuckDB and on PostgreSQL."""
    home_dir = tmp_path_factory.mktemp("portability")
    saved = {k: os.environ.get(k) for k in ["TOLLGATE_HOME", "TOLLGATE_DBT_TARGET", "TOLLGATE_PG_HOST",
                                            "TOLLGATE_PG_PORT", "TOLLGATE_PG_USER", "TOLLGATE_PG_PASSWORD",
                                            "TOLLGATE_PG_DATABASE"]}
    os.environ["TOLLGATE_HOME"] = str(home_dir)
    from dagster_project.settings import get_settings

    home = get_settings()
    try:
        with connect(home.warehouse_path) as con:
            ensure_raw_stripe_schema(con)
            con.executemany(
                "insert into raw_stripe.customers (id, metadata_customer_id, livemode) values (?, ?, false)",
                [(f"cus_{i}", customer_key(i)) for i in range(1, CUSTOMERS)],
            )
            con.executemany(
                "insert into raw_stripe.billing_meters (id, event_name, status) values (?, ?, 'active')",
                [(f"mtr_{m.event_name}", m.event_name) for m in METERS],
            )
            # Usage is billed only where a subscription covers the meter (else: no_subscription).
            con.executemany(
                "insert into raw_stripe.prices (id, recurring_meter, billing_scheme, unit_amount_decimal, "
                "currency, active) values (?, ?, 'per_unit', '0.5', 'usd', true)",
                [(f"price_{m.event_name}", f"mtr_{m.event_name}") for m in METERS],
            )
            con.executemany(
                "insert into raw_stripe.subscriptions (id, customer, status) values (?, ?, 'active')",
                [(f"sub_{i}", f"cus_{i}") for i in range(1, CUSTOMERS)],
            )
            con.executemany(
                "insert into raw_stripe.subscription_items (id, subscription, price) values (?, ?, ?)",
                [(f"si_{i}_{m.event_name}", f"sub_{i}", f"price_{m.event_name}")
                 for i in range(1, CUSTOMERS) for m in METERS],
            )
        # Landed and built one day at a time, on both warehouses.
        dbname = pg_server.create_database(f"tollgate_portability_{os.getpid()}")
        for day in DAYS:
            generate_day(home.landing_usage_dir, day, customers=CUSTOMERS, events_per_customer=12)
            with connect(home.warehouse_path) as con:
                ingest_day(con, home.landing_usage_dir, day)
            run_dbt(*DAILY_BUILD_ARGS, vars={"run_date": day.isoformat()})
        duck = fetch_duckdb(home)

        pg = pg_server.connect(dbname)
        with connect(home.warehouse_path, read_only=True) as con:
            copied = copy_raw_to_postgres(con, pg)
        os.environ.update(pg_server.dbt_env(dbname))
        # The raw rows arrive all at once, so the days are built in order from the same rows:
        # day one sees only its own landing day (the incremental filter), like DuckDB did.
        with pg.cursor() as cur:
            cur.execute("create table raw.usage_events_all as select * from raw.usage_events")
            cur.execute("create table raw.landing_manifest_all as select * from raw.landing_manifest")
        for day in DAYS:
            with pg.cursor() as cur:
                cur.execute("truncate raw.usage_events; truncate raw.landing_manifest")
                cur.execute("insert into raw.usage_events select * from raw.usage_events_all where landed_date <= %s", [day])
                cur.execute("insert into raw.landing_manifest select * from raw.landing_manifest_all where landed_date <= %s", [day])
            run_dbt(*POSTGRES_BUILD_ARGS, vars={"run_date": day.isoformat()})
        unit = run_dbt("test", "--select", "test_type:unit", "--exclude", *NOT_YET_PORTABLE)
        yield {"duckdb": duck, "postgres": fetch_postgres(pg), "copied": copied, "unit": unit.stdout}
        pg.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_raw_rows_copied(both_warehouses):
    assert both_warehouses["copied"]["raw.usage_events"] > 100
    assert both_warehouses["copied"]["raw_stripe.customers"] == CUSTOMERS - 1


@pytest.mark.parametrize("relation", list(COMPARED))
def test_postgres_gives_the_same_results_as_duckdb(both_warehouses, relation):
    duck, pg = both_warehouses["duckdb"][relation], both_warehouses["postgres"][relation]
    assert duck, f"{relation} is empty on DuckDB"
    assert pg == duck


def test_held_usage_and_duplicates_are_present_to_compare(both_warehouses):
    statuses = {(s, r) for _, _, s, r in both_warehouses["postgres"]["classified"]}
    assert ("duplicate", None) in statuses
    assert ("quarantined", "unknown_customer") in statuses
    assert ("quarantined", "conflicting_duplicate") in statuses


def test_dbt_unit_tests_pass_on_postgres(both_warehouses):
    import re

    from tests.test_dbt_unit_tests import unit_tests_defined

    expected = unit_tests_defined(excluding=NOT_YET_PORTABLE_FOLDERS)
    assert re.search(rf"PASS={expected}\b", both_warehouses["unit"]), both_warehouses["unit"][-2000:]
