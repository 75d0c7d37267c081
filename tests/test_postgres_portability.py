"""The same dbt project on PostgreSQL: the same input gives the same marts as on DuckDB, every
data test and unit test passes there, and Dagster's own storage can live in PostgreSQL.

Every model takes part, the ledger and finance reports included: the days are built one by one
on both warehouses from the same raw rows (usage, a Stripe snapshot with metered and licensed
prices and past invoices, credit grants, payments, a refund that changes between the days, a
credit note), and the ledger entries, credit burn-down, account balances and finance reports
are compared row by row, with exact integer / decimal equality."""

import os
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dagster_project.ingest.landing import ingest_day
from dagster_project.ingest.stripe_extract import TABLES, ensure_raw_stripe_schema
from dagster_project.ledger.credits import burn_down_rows
from dagster_project.ledger.finance_inputs import RAW_FINANCE_DDL, ensure_raw_finance_schema
from dagster_project.sample_data import METERS, customer_key, generate_day
from dagster_project.transform.dbt_assets import DAILY_BUILD_ARGS
from dagster_project.warehouse import RAW_DDL, connect
from tests.conftest import DBT_TARGET, run_dbt
from tests.ledger.test_burn_down_sql import DAY0, example_rows, grant, usage

assert DAILY_BUILD_ARGS == ["build", "--exclude", "test_type:unit"]
POSTGRES_BUILD_ARGS = DAILY_BUILD_ARGS  # the same build, nothing excluded

pytestmark = pytest.mark.postgres
DAYS = [date(2026, 11, 20), date(2026, 11, 21)]
CUSTOMERS = 5  # acct_0005 is not in Stripe: its usage is held as unknown_customer

COMPARED = {
    "fct_usage_daily": "select usage_daily_id, stripe_customer_id, meter_event_name, usage_date, quantity, event_count from marts.fct_usage_daily order by 1",
    "fct_meter_push_input": "select push_key, usage_date, quantity, cumulative_quantity, desired_value, carried_remainder from marts.fct_meter_push_input order by 1",
    "fct_landing_file_accounting": "select file_id, lines_landed, accepted, duplicates, quarantined from marts.fct_landing_file_accounting order by 1",
    "classified": "select file_id, line_number, status, reason from intermediate.int_usage_events_classified order by 1, 2",
    # the ledger and the finance reports, every column
    "fct_ledger_entries": "select * from marts.fct_ledger_entries order by entry_id",
    "int_ledger__item_periods": "select * from intermediate.int_ledger__item_periods order by item_period_id",
    "int_ledger__item_versions": "select * from intermediate.int_ledger__item_versions order by item_version_id",
    "int_ledger__credit_burndown": "select * from intermediate.int_ledger__credit_burndown order by grant_id, accrual_key",
    "int_ledger__usage_accruals": "select * from intermediate.int_ledger__usage_accruals order by accrual_key",
    "fct_account_balances": "select * from marts.fct_account_balances order by account_balance_id",
    "rpt_mrr": "select * from marts.rpt_mrr order by mrr_id",
    "rpt_revenue_recognition": "select * from marts.rpt_revenue_recognition order by revenue_recognition_id",
    "rpt_revenue_summary": "select * from marts.rpt_revenue_summary order by revenue_summary_id",
    "rpt_invoice_reconciliation": "select * from marts.rpt_invoice_reconciliation order by invoice_reconciliation_id",
    "rpt_deferred_revenue_tieout": "select * from marts.rpt_deferred_revenue_tieout order by tieout_id",
}
LEDGER_RELATIONS = [k for k in COMPARED if k.startswith(("fct_ledger", "int_ledger", "fct_account", "rpt_"))]

# A refund that changes after the first day (a late correction: reversal + new lines on day 2).
LATE_REFUND_CHANGE = "update raw_finance.refunds set amount = 1700 where refund_id = 're_port_1'"
LATE_REFUND_UNDO = "update raw_finance.refunds set amount = 1200 where refund_id = 're_port_1'"


def normalise(rows):
    for r in rows:  # money and quantities are never floating point, on either warehouse
        assert not any(isinstance(v, float) for v in r), r
    rows = [tuple(Decimal(v).normalize() if isinstance(v, Decimal) else v for v in r) for r in rows]
    # in Python's order: a server whose collation is not "C" orders text ids differently
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


def add_stripe_and_finance_facts(con) -> None:
    """What the ledger and the finance reports need (DuckDB side; copied to PostgreSQL): monthly
    metered prices and a licensed seat price on subscriptions created in October (so October is
    a past period), paid and open invoices, credit grants that compete for the same usage
    (priority, expiry, meters, one created after the first day, one expiring between the days),
    payments, a refund and a credit note."""
    con.execute("insert into raw_stripe.products (id, name, active) values ('prod_usage', 'Usage', true), "
                "('prod_seats', 'Seats', true)")
    con.execute("update raw_stripe.prices set product = 'prod_usage', price_type = 'recurring', "
                "recurring_interval = 'month', recurring_interval_count = 1, recurring_usage_type = 'metered'")
    con.execute(
        "insert into raw_stripe.prices (id, product, currency, unit_amount_decimal, billing_scheme, price_type, "
        "recurring_interval, recurring_interval_count, recurring_usage_type, active) values "
        "('price_seats', 'prod_seats', 'usd', '1999', 'per_unit', 'recurring', 'month', 1, 'licensed', true)"
    )
    con.execute("update raw_stripe.subscriptions set currency = 'usd', created = timestamp '2026-10-10 08:00:00'")
    con.execute("update raw_stripe.subscription_items set quantity = null, "
                "current_period_start = timestamp '2026-11-10 08:00:00', current_period_end = timestamp '2026-12-10 08:00:00'")
    con.executemany(
        "insert into raw_stripe.subscription_items (id, subscription, price, quantity, current_period_start, "
        "current_period_end) values (?, ?, 'price_seats', ?, timestamp '2026-11-10 08:00:00', timestamp '2026-12-10 08:00:00')",
        [(f"si_{i}_seats", f"sub_{i}", i) for i in range(1, CUSTOMERS)],
    )
    con.executemany(
        "insert into raw_stripe.invoices (id, customer, subscription, status, currency, period_start, period_end, "
        "subtotal, total, amount_due, created) values (?, ?, ?, ?, 'usd', timestamp '2026-10-10 08:00:00', "
        "timestamp '2026-11-10 08:00:00', ?, ?, ?, timestamp '2026-11-10 09:00:00')",
        [(f"in_{i}", f"cus_{i}", f"sub_{i}", "paid" if i % 2 else "open", 1999 * i, 1999 * i, 1999 * i)
         for i in range(1, CUSTOMERS)],
    )
    # Stripe's record of October's seats (non-proration lines; a proration line to be ignored),
    # and si_2_seats' history: 4 seats seen on Oct 1, 2 on Nov 15, so November's period (from
    # Nov 10) is priced at 4 seats and October's at its invoice line, not at today's 2.
    con.executemany(
        "insert into raw_stripe.invoice_lines (id, invoice, amount, currency, quantity, price, period_start, "
        "period_end, description, subscription_item, proration) values (?, ?, ?, 'usd', ?, 'price_seats', "
        "timestamp '2026-10-10 08:00:00', timestamp '2026-11-10 08:00:00', 'seats', ?, ?)",
        [(f"il_{i}", f"in_{i}", 1999 * i, i, f"si_{i}_seats", False) for i in range(1, CUSTOMERS)]
        + [("il_pro_1", "in_1", 777, 1, "si_1_seats", True)],
    )
    con.execute(
        "insert into raw_stripe.subscription_item_versions (id, subscription_item, subscription, price, quantity, "
        "observed_at) values ('v_2a', 'si_2_seats', 'sub_2', 'price_seats', 4, timestamp '2026-10-01 00:00:00'), "
        "('v_2b', 'si_2_seats', 'sub_2', 'price_seats', 2, timestamp '2026-11-15 00:00:00')"
    )
    grants = [
        # customer 1: a priority-0 promotion on one meter, expiring between the two days, then
        # two priority-50 grants (the one expiring first goes first), created before the days
        ("g_promo", customer_key(1), "promotional", 700, "2026-11-15", "2026-11-21", 0, METERS[0].event_name, "2026-11-15"),
        ("g_paid_a", customer_key(1), "paid", 900, "2026-11-15", None, 50, None, "2026-11-14"),
        ("g_paid_b", customer_key(1), "paid", 400, "2026-11-15", "2026-12-31", 50, None, "2026-11-16"),
        # customer 2: granted on the second day only (pays nothing before it existed)
        ("g_late", customer_key(2), "paid", 5000, "2026-11-01", None, 50, None, "2026-11-21 10:00"),
        # customer 3: two grants with the same priority and expiry: the older goes first
        ("g_same_y", customer_key(3), "paid", 300, "2026-11-01", "2026-12-01", 50, None, "2026-11-02"),
        ("g_same_x", customer_key(3), "paid", 300, "2026-11-01", "2026-12-01", 50, None, "2026-11-03"),
    ]
    def at(text):
        return None if text is None else datetime.fromisoformat(text)

    con.executemany(
        "insert into raw_finance.credit_grants values (?, ?, ?, ?, 'usd', ?, ?, ?, ?, ?)",
        [(g, c, cat, amount, at(eff), at(exp), prio, meters, at(created))
         for g, c, cat, amount, eff, exp, prio, meters, created in grants],
    )
    con.execute(f"insert into raw_finance.payments values ('pay_port_1', '{customer_key(1)}', 'usd', 1999, "
                "timestamp '2026-11-12 10:00:00', 'in_1')")
    con.execute(f"insert into raw_finance.payments values ('pay_port_3', '{customer_key(3)}', 'usd', 5997, "
                "timestamp '2026-11-20 11:00:00', 'in_3')")
    con.execute("insert into raw_finance.refunds values ('re_port_1', 'pay_port_3', 1200, timestamp '2026-11-20 15:00:00')")
    con.execute(f"insert into raw_finance.credit_notes values ('cn_port_2', '{customer_key(2)}', 'in_2', 'usd', 333, "
                "timestamp '2026-11-21 09:00:00', 'goodwill')")


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


def columns_duckdb(home):
    with connect(home.warehouse_path, read_only=True) as con:
        return {k: [d[0] for d in con.execute(q).description] for k, q in COMPARED.items()}


def fetch_postgres(pg):
    out = {}
    with pg.cursor() as cur:
        for k, q in COMPARED.items():
            cur.execute(q)
            out[k] = normalise(cur.fetchall())
            out[k + ".columns"] = [d[0] for d in cur.description]
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
            ensure_raw_finance_schema(con)
            add_stripe_and_finance_facts(con)
        # Landed and built one day at a time, on both warehouses.
        dbname = pg_server.create_database(f"tollgate_portability_{os.getpid()}")
        for day in DAYS:
            generate_day(home.landing_usage_dir, day, customers=CUSTOMERS, events_per_customer=12)
            with connect(home.warehouse_path) as con:
                ingest_day(con, home.landing_usage_dir, day)
                if day == DAYS[-1]:
                    con.execute(LATE_REFUND_CHANGE)
            run_dbt(*DAILY_BUILD_ARGS, run_date=day)
        duck = fetch_duckdb(home)
        duck_columns = columns_duckdb(home)

        pg = pg_server.connect(dbname)
        with connect(home.warehouse_path, read_only=True) as con:
            copied = copy_raw_to_postgres(con, pg)
        os.environ.update(pg_server.dbt_env(dbname))
        # The raw rows arrive all at once, so the days are built in order from the same rows:
        # day one sees only its own landing day (the incremental filter), like DuckDB did.
        with pg.cursor() as cur:
            cur.execute("create table raw.usage_events_all as select * from raw.usage_events")
            cur.execute("create table raw.landing_manifest_all as select * from raw.landing_manifest")
            cur.execute(LATE_REFUND_UNDO)  # day one sees the refund as it was then
        for day in DAYS:
            with pg.cursor() as cur:
                cur.execute("truncate raw.usage_events; truncate raw.landing_manifest")
                cur.execute("insert into raw.usage_events select * from raw.usage_events_all where landed_date <= %s", [day])
                cur.execute("insert into raw.landing_manifest select * from raw.landing_manifest_all where landed_date <= %s", [day])
                if day == DAYS[-1]:
                    cur.execute(LATE_REFUND_CHANGE)
            run_dbt(*POSTGRES_BUILD_ARGS, run_date=day)
        postgres = fetch_postgres(pg)
        # append-only on PostgreSQL too: --full-refresh leaves the ledger alone, a rerun of the
        # last day posts nothing
        last = DAYS[-1]
        run_dbt("run", "--select", "fct_ledger_entries", "--full-refresh", run_date=last)
        run_dbt("run", "--select", "int_ledger__credit_burndown", "int_ledger__desired_lines", "fct_ledger_entries", run_date=last)
        with pg.cursor() as cur:
            cur.execute(COMPARED["fct_ledger_entries"])
            ledger_after_rerun = normalise(cur.fetchall())
        unit = run_dbt("test", "--select", "test_type:unit")
        run_dbt("compile", "--select", "int_ledger__credit_burndown", run_date=last)
        burn_sql = (DBT_TARGET / "compiled" / "tollgate" / "models" / "intermediate" / "ledger"
                    / "int_ledger__credit_burndown.sql").read_text()
        yield {"pg": pg, "dbname": dbname, "burn_sql": burn_sql, "duckdb": duck, "duckdb_columns": duck_columns, "postgres": postgres, "copied": copied, "unit": unit.stdout,
               "ledger_after_rerun": ledger_after_rerun}
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
    assert both_warehouses["postgres"][relation + ".columns"] == both_warehouses["duckdb_columns"][relation]
    assert pg == duck


def test_licensed_periods_are_priced_as_billed_on_postgres(both_warehouses):
    """si_2_seats (2 seats today): October from its invoice line (2), November from the version
    in force on Nov 10 (4), not today's seats; si_1_seats' proration line is not a fee."""
    with both_warehouses["pg"].cursor() as cur:
        cur.execute(
            "select subscription_item_id, cast(period_start as date), quantity_source, quantity, invoiced_amount "
            "from intermediate.int_ledger__item_periods where subscription_item_id in ('si_1_seats', 'si_2_seats') "
            "order by 1, 2"
        )
        rows = cur.fetchall()
    # (no period ending on `created`: the subscription did not exist in it)
    assert rows == [
        ("si_1_seats", date(2026, 10, 10), "invoice_line", 1, 1999),
        ("si_1_seats", date(2026, 11, 10), "item_version", 1, None),
        ("si_2_seats", date(2026, 10, 10), "invoice_line", 2, 3998),
        ("si_2_seats", date(2026, 11, 10), "item_version", 4, None),
    ]


def test_held_usage_and_duplicates_are_present_to_compare(both_warehouses):
    statuses = {(s, r) for _, _, s, r in both_warehouses["postgres"]["classified"]}
    assert ("duplicate", None) in statuses
    assert ("quarantined", "unknown_customer") in statuses
    assert ("quarantined", "conflicting_duplicate") in statuses


def test_ledger_and_finance_have_something_to_compare(both_warehouses):
    """The comparison above means something only when the ledger holds every kind of fact."""
    duck = both_warehouses["duckdb"]
    for relation in LEDGER_RELATIONS:
        assert duck[relation], f"{relation} is empty"
    with_columns = both_warehouses["duckdb_columns"]["fct_ledger_entries"]
    kinds = {(row[with_columns.index("transaction_type")], row[with_columns.index("entry_type")])
             for row in duck["fct_ledger_entries"]}
    for kind in ["usage_accrual", "licensed_fee", "revenue_recognition", "invoice_finalized", "payment",
                 "refund", "credit_note", "credit_grant", "credit_burn", "credit_expiry"]:
        assert (kind, "original") in kinds, kind
    assert ("refund", "reversal") in kinds and ("refund", "correction") in kinds
    burned = {row[0] for row in duck["int_ledger__credit_burndown"]}
    assert {"g_promo", "g_paid_b", "g_same_y"} <= burned, burned


def test_postgres_ledger_is_append_only(both_warehouses):
    assert both_warehouses["ledger_after_rerun"] == both_warehouses["postgres"]["fct_ledger_entries"]


def test_dbt_unit_tests_pass_on_postgres(both_warehouses):
    import re

    from tests.test_dbt_unit_tests import unit_tests_defined

    expected = unit_tests_defined()  # every unit test, the ledger's and finance's included
    assert re.search(rf"PASS={expected}\b", both_warehouses["unit"]), both_warehouses["unit"][-2000:]


@pytest.fixture(scope="module")
def pg_burn_down(both_warehouses):
    """The burn-down model's SQL as dbt compiled it for PostgreSQL, reading scratch input tables
    whose text columns sort by an ICU en-US collation when the server has one ("g" before "G",
    unlike Python): only the model's own binary_order keeps the grant order the same."""
    pg, sql = both_warehouses["pg"], both_warehouses["burn_sql"]
    with pg.cursor() as cur:
        # the planner's guess for a recursive CTE over unanalyzed tables is large enough to JIT
        # compile each query: ~1 s per example instead of ~2 ms
        cur.execute("set jit = off")
        cur.execute("select count(*) from pg_collation where collname = 'en-US-x-icu'")
        collate = ' collate "en-US-x-icu"' if cur.fetchone()[0] else ""
        cur.execute("create schema burn_check")
        cur.execute(
            f"create table burn_check.grants (grant_id varchar{collate}, stripe_customer_id varchar, currency varchar,"
            " amount bigint, effective_at timestamp, expires_at timestamp, priority integer, created_at timestamp,"
            " applicable_meters varchar)"
        )
        cur.execute(
            f"create table burn_check.usage (accrual_key varchar{collate}, stripe_customer_id varchar, currency varchar,"
            f" meter_event_name varchar{collate}, usage_date date, accrued_amount bigint)"
        )
        cur.execute("create table burn_check.as_of (as_of_date date)")
    for relation, table in {"int_ledger__as_of": "as_of", "stg_finance__credit_grants": "grants",
                            "int_ledger__usage_accruals": "usage"}.items():
        pattern = rf'"{both_warehouses["dbname"]}"\."\w+"\."{relation}"'
        assert re.search(pattern, sql), relation
        sql = re.sub(pattern, f"burn_check.{table}", sql)
    return pg, sql


_TIE = {"customer": "cus_a", "currency": "usd", "amount": 100, "priority": 50, "effective": 0, "hour": 0,
        "expires_after": None, "created": 0, "meters": None}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grants=st.lists(grant, max_size=6), usage_days=st.lists(usage, max_size=14), as_of=st.integers(0, 9))
@example(grants=[{**_TIE, "id": "g"}, {**_TIE, "id": "G"}], usage_days=[("cus_a", "usd", "m1", 1, 150)], as_of=2)
def test_sql_burn_down_on_postgres_equals_credits_py(pg_burn_down, grants, usage_days, as_of):
    """The same random examples as tests/ledger/test_burn_down_sql.py, on PostgreSQL."""
    from psycopg2.extras import execute_values

    pg, sql = pg_burn_down
    grant_rows, usage_rows = example_rows(grants, usage_days)
    day = DAY0 + timedelta(days=as_of)
    with pg.cursor() as cur:
        cur.execute("truncate burn_check.grants, burn_check.usage, burn_check.as_of")
        if grant_rows:
            execute_values(cur, "insert into burn_check.grants values %s", grant_rows)
        if usage_rows:
            execute_values(cur, "insert into burn_check.usage values %s", usage_rows)
        cur.execute("insert into burn_check.as_of values (%s)", [day])
        cur.execute(f"select grant_id, accrual_key, amount from ({sql}) as burns")
        got = cur.fetchall()
    expected = {(b.grant_id, b.accrual_key): b.amount for b in burn_down_rows(grant_rows, usage_rows, day)}
    assert len(got) == len({(g, k) for g, k, _ in got})
    assert {(g, k): a for g, k, a in got} == expected
