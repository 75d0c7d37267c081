"""Run the ledger's own compiled SQL in-process, many times, without dbt's start-up cost.

`dbt run --empty` creates every relation of the project once (so `is_incremental()` is true
when the ledger compiles); `dbt compile` renders the ledger models. A test then copies that
empty warehouse, writes its facts straight into the ledger's inputs (usage accruals, grants,
payments, refunds, credit notes, the as-of day) and executes the compiled SQL of
int_ledger__desired_lines -> fct_ledger_entries (appended, as dbt's append strategy does) ->
fct_account_balances, with int_ledger__credit_burndown (SQL) before them: the same code dbt
runs, at milliseconds per posting.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema
from dagster_project.ledger.credits import burn_down_rows
from dagster_project.ledger.finance_inputs import ensure_raw_finance_schema
from dagster_project.warehouse import connect, ensure_raw_schema
from tests.conftest import DBT_TARGET, run_dbt

MODELS = ("int_ledger__credit_burndown", "int_ledger__desired_lines", "fct_ledger_entries", "fct_account_balances")
# inputs replaced by tables the test fills: (schema, name)
INPUTS = {
    "usage": ("intermediate", "int_ledger__usage_accruals"),
    "grants": ("staging", "stg_finance__credit_grants"),
    "payments": ("staging", "stg_finance__payments"),
    "refunds": ("staging", "stg_finance__refunds"),
    "credit_notes": ("staging", "stg_finance__credit_notes"),
    "as_of": ("intermediate", "int_ledger__as_of"),
    "closed": ("intermediate", "int_ledger__closed_periods"),
}


@dataclass
class CompiledLedger:
    template: Path
    sql: dict[str, str]


def compile_ledger(home_warehouse: Path) -> CompiledLedger:
    with connect(home_warehouse) as con:
        ensure_raw_schema(con)
        ensure_raw_stripe_schema(con)
        ensure_raw_finance_schema(con)
    run_dbt("seed")
    run_dbt("run", "--empty", "--select", "+fct_ledger_entries", "+fct_account_balances")
    run_dbt("compile", "--select", *MODELS)
    manifest = json.loads((DBT_TARGET / "manifest.json").read_text())
    sql = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"] in MODELS:
            sql[node["name"]] = node["compiled_code"]
    assert set(sql) == set(MODELS), sql.keys()
    assert "posted_as_of" in sql["fct_ledger_entries"]
    # compiled against an existing ledger: the incremental branch reads what is posted
    assert 'from "warehouse"."marts"."fct_ledger_entries"' in sql["fct_ledger_entries"].replace("\n", " ")
    with connect(home_warehouse) as con:  # inputs become plain tables the test can fill
        for schema, name in INPUTS.values():
            kind = con.execute(
                "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
                [schema, name],
            ).fetchall()
            if kind and kind[0][0] == "VIEW":
                con.execute(f"create table {schema}.tmp_{name} as select * from {schema}.{name} limit 0")
                con.execute(f"drop view {schema}.{name}")
                con.execute(f"alter table {schema}.tmp_{name} rename to {name}")
            con.execute(f"delete from {schema}.{name}")
        con.execute("checkpoint")
    return CompiledLedger(home_warehouse, sql)


class Warehouse:
    """A private copy of the compiled, empty warehouse for one example."""

    def __init__(self, compiled: CompiledLedger, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "warehouse.duckdb"  # the catalog name the compiled SQL uses
        shutil.copyfile(compiled.template, self.path)
        self.sql = compiled.sql
        self.con = duckdb.connect(str(self.path))
        self.con.execute("set TimeZone = 'UTC'")

    def close(self) -> None:
        self.con.close()

    def table(self, key: str) -> str:
        schema, name = INPUTS[key]
        return f"{schema}.{name}"

    def set_as_of(self, day: date, closed: list[tuple[date, date]]) -> None:
        self.con.execute(f"delete from {self.table('as_of')}")
        self.con.execute(f"insert into {self.table('as_of')} (run_date, as_of_date) values (?, ?)", [day, day])
        self.con.execute(f"delete from {self.table('closed')}")
        for month, closed_on in closed:
            self.con.execute(f"insert into {self.table('closed')} values (?, ?)", [month, closed_on])

    def reference_burn_down(self) -> dict[tuple[str, str], int]:
        """credits.py's burn-down (the reference) over the same inputs: (grant, accrual) -> amount."""
        as_of = self.con.execute(f"select as_of_date from {self.table('as_of')}").fetchall()[0][0]
        grants = self.con.execute(
            f"select grant_id, stripe_customer_id, currency, amount, effective_at, expires_at, priority,"
            f" created_at, applicable_meters from {self.table('grants')}"
        ).fetchall()
        usage = self.con.execute(
            f"select accrual_key, stripe_customer_id, currency, meter_event_name, usage_date, accrued_amount"
            f" from {self.table('usage')}"
        ).fetchall()
        return {(b.grant_id, b.accrual_key): b.amount for b in burn_down_rows(grants, usage, as_of)}

    def burn_down(self) -> dict[tuple[str, str], int]:
        """The SQL model int_ledger__credit_burndown alone: (grant, accrual) -> amount."""
        rows = self.con.execute(f"select grant_id, accrual_key, amount from ({self.sql['int_ledger__credit_burndown']})").fetchall()
        assert len(rows) == len({(g, k) for g, k, _ in rows}), "a grant burned twice on one accrual"
        return {(g, k): a for g, k, a in rows}

    def post(self) -> int:
        """One ledger run: burn-down (SQL), desired lines, append the difference, balances.
        Returns the number of entries appended."""
        self.con.execute(
            f"create or replace table intermediate.int_ledger__credit_burndown as {self.sql['int_ledger__credit_burndown']}"
        )
        self.con.execute(f"create or replace table intermediate.int_ledger__desired_lines as {self.sql['int_ledger__desired_lines']}")
        before = self.con.execute("select count(*) from marts.fct_ledger_entries").fetchall()[0][0]
        self.con.execute(f"insert into marts.fct_ledger_entries {self.sql['fct_ledger_entries']}")
        after = self.con.execute("select count(*) from marts.fct_ledger_entries").fetchall()[0][0]
        self.con.execute(f"create or replace table marts.fct_account_balances as {self.sql['fct_account_balances']}")
        return after - before
