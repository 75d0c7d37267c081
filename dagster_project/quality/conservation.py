"""Conservation checks: quantities that must add up, as Dagster asset checks.

A conservation check is one SQL file under ``quality/sql/`` that returns one row per
violation (nothing when the books balance) plus one line of ``CONSERVATION_CHECKS``. An
optional ``<name>.summary.sql`` returns one row of totals shown on every evaluation, passing or
not. When the violation rows have ``amount`` and ``currency`` columns (minor units), the
amount at stake is added up per currency.
"""


from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from dagster_project.observe.redact import redact
from dagster_project.resources import WarehouseResource

SQL_DIR = Path(__file__).parent / "sql"
MAX_ROWS_SHOWN = 20


@dataclass(frozen=True)
class ConservationCheck:
    name: str  # sql/<name>.sql (violations) and optional sql/<name>.summary.sql
    asset: AssetKey
    description: str
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR
    blocking: bool = False

    @property
    def sql(self) -> str:
        return (SQL_DIR / f"{self.name}.sql").read_text()

    @property
    def summary_sql(self) -> str | None:
        path = SQL_DIR / f"{self.name}.summary.sql"
        return path.read_text() if path.exists() else None


def _dbt_key(model: str) -> AssetKey:
    from dagster_project.transform.dbt_assets import dbt_asset_key

    return dbt_asset_key(model)


CONSERVATION_CHECKS: list[ConservationCheck] = [
    ConservationCheck(
        "lines_landed_accounted_for",
        _dbt_key("fct_landing_file_accounting"),
        "Every landed line is accepted, a duplicate or quarantined with a reason, per file: "
        "lines landed = accepted + duplicates + quarantined.",
    ),
    ConservationCheck(
        "desired_equals_pushed_plus_pending",
        AssetKey("stripe_meter_events"),
        "For every customer, meter and day: desired = pushed + pending (+ failed, + held outside "
        "Stripe's 35-day window). Anything else is usage neither in Stripe nor on its way.",
    ),
    # Issue 5 adds: ConservationCheck("ledger_balanced", _dbt_key("fct_ledger_entries"), "..."),
    # Issue 5 adds: ConservationCheck("deferred_revenue_ties_out", _dbt_key("..."), "..."),
]


def _markdown_table(columns: list[str], rows: list[tuple]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    body = "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in rows)
    return redact(head + "\n" + body)


def evaluate(check: ConservationCheck, con) -> AssetCheckResult:
    cursor = con.execute(check.sql)
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    metadata: dict = {"violations": MetadataValue.int(len(rows))}
    if check.summary_sql:
        summary = con.execute(check.summary_sql)
        names = [d[0] for d in summary.description]
        for name, value in zip(names, summary.fetchone(), strict=True):
            metadata[name] = MetadataValue.int(int(value or 0))
    if rows:
        shown = _markdown_table(columns, rows[:MAX_ROWS_SHOWN])
        if len(rows) > MAX_ROWS_SHOWN:
            shown += f"\n\n... and {len(rows) - MAX_ROWS_SHOWN} more"
        metadata["violating_rows"] = MetadataValue.md(shown)
        if "amount" in columns and "currency" in columns:
            a, c = columns.index("amount"), columns.index("currency")
            at_stake: dict[str, int] = {}
            for row in rows:
                if row[a] is not None:
                    at_stake[str(row[c])] = at_stake.get(str(row[c]), 0) + int(row[a])
            metadata["amount_at_stake_minor_units"] = MetadataValue.json(at_stake)
    return AssetCheckResult(passed=not rows, severity=check.severity, metadata=metadata)


def build_conservation_check(check: ConservationCheck) -> AssetChecksDefinition:
    @asset_check(
        asset=check.asset,
        name=check.name,
        blocking=check.blocking,
        description=f"Conservation (quality/sql/{check.name}.sql): {check.description}",
    )
    def _conservation(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        with warehouse.connection(read_only=True) as con:
            return evaluate(check, con)

    return _conservation


conservation_checks = [build_conservation_check(c) for c in CONSERVATION_CHECKS]
