"""Ledger and finance assets: the raw_finance inputs, the ledger's balance check, the report."""

from __future__ import annotations

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    multi_asset,
)

from dagster_project.ledger.finance_inputs import ensure_raw_finance_schema
from dagster_project.ledger.report import major, summary_markdown, total_owed, write_report
from dagster_project.resources import WarehouseResource
from dagster_project.settings import get_settings

LEDGER = AssetKey(["marts", "fct_ledger_entries"])
FINANCE_MARTS = [
    AssetKey(["marts", name])
    for name in ("rpt_mrr", "rpt_revenue_summary", "rpt_revenue_recognition", "fct_account_balances")
]


FINANCE_TABLES = ("credit_grants", "payments", "refunds", "credit_notes")


@multi_asset(
    specs=[
        AssetSpec(
            f"raw_finance_{t}",
            group_name="ingest",
            description=f"raw_finance.{t}: {t.replace('_', ' ')} (Stripe objects the emulator lacks), "
            "filled by an operator or the demo.",
        )
        for t in FINANCE_TABLES
    ]
)
def raw_finance_inputs(warehouse: WarehouseResource):
    """Makes sure the raw_finance tables exist (dbt reads them as sources) and counts them."""
    with warehouse.connection() as con:
        ensure_raw_finance_schema(con)
        counts = {t: con.execute(f"select count(*) from raw_finance.{t}").fetchall()[0][0] for t in FINANCE_TABLES}
    for t, n in counts.items():
        yield MaterializeResult(asset_key=f"raw_finance_{t}", metadata={"rows": MetadataValue.int(int(n))})


@asset_check(asset=LEDGER, blocking=True, description="Debits equal credits in every ledger "
             "transaction (journal_id) and currency; the whole ledger balances per currency.")
def ledger_transactions_balance(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connection() as con:
        unbalanced = con.execute(
            """
            select journal_id, currency, sum(debit) - sum(credit) as difference
            from marts.fct_ledger_entries group by 1, 2 having sum(debit) <> sum(credit)
            order by abs(sum(debit) - sum(credit)) desc limit 20
            """
        ).fetchall()
        totals = con.execute(
            "select currency, count(*), sum(debit), sum(credit) from marts.fct_ledger_entries group by 1 order by 1"
        ).fetchall()
    return AssetCheckResult(
        passed=not unbalanced,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "unbalanced_transactions": MetadataValue.int(len(unbalanced)),
            "examples": MetadataValue.md("\n".join(f"- {j} {c}: {d}" for j, c, d in unbalanced) or "none"),
            "totals": MetadataValue.md(
                "\n".join(f"- {c}: {n} entries, debits {major(int(d), c)} = credits {major(int(k), c)}" for c, n, d, k in totals)
                or "empty ledger"
            ),
        },
    )


@asset(deps=FINANCE_MARTS, group_name="finance",
       description="The finance report (HTML with inline SVG charts): MRR over time, revenue by "
       "product, top customers, who owes what. Written under $TOLLGATE_HOME/reports/.")
def finance_report(warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.connection(read_only=True) as con:
        path, snapshot = write_report(con, get_settings().reports_dir)
    page = path.read_text(encoding="utf-8")
    mrr = {cur: points[-1][1] for cur, points in snapshot.mrr_by_month.items() if points}
    return MaterializeResult(
        metadata={
            "report_path": MetadataValue.path(str(path)),
            "report_url": MetadataValue.url(path.as_uri()),
            # The page's figures as Markdown: the UI shows them without opening the file.
            "report": MetadataValue.md(summary_markdown(snapshot, path)),
            "as_of": MetadataValue.text(str(snapshot.as_of)),
            "charts": MetadataValue.int(page.count("<svg")),
            "mrr_minor_units": MetadataValue.json(mrr),
            "recognized_last_month_minor_units": MetadataValue.json(snapshot.recognized_last_month),
            "owed_minor_units": MetadataValue.json(total_owed(snapshot)),
            "customers_owing": MetadataValue.int(sum(1 for row in snapshot.owed if row[4] > 0)),
        }
    )
