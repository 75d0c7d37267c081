"""stripe_usage_reconciliation: Stripe read back and compared with the warehouse."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dagster_project.push.invoice_reconcile import reconcile_invoiced_usage
from dagster_project.push.reconcile import reconcile_usage
from dagster_project.resources import StripeResource, WarehouseResource

MAX_LISTED = 50


@asset(
    deps=["stripe_meter_events"],
    group_name="push",
    check_specs=[
        AssetCheckSpec(
            "stripe_usage_matches_warehouse",
            asset="stripe_usage_reconciliation",
            description="Stripe's meter event summaries per customer, meter and UTC day equal the "
            "warehouse's desired totals; each difference is named with the units and amount at stake.",
        ),
        AssetCheckSpec(
            "invoiced_usage_matches_warehouse",
            asset="stripe_usage_reconciliation",
            description="Every metered line of every finalized Stripe invoice bills the warehouse's "
            "desired units for its customer, meter and period; each difference is named with the "
            "invoice, the units and the amount at stake.",
        ),
    ],
)
def stripe_usage_reconciliation(
    context: AssetExecutionContext, warehouse: WarehouseResource, stripe: StripeResource
):
    """Reads meter event summaries back from Stripe (per customer and meter, grouped by day) for
    the days Stripe still accepts usage for, and compares the metered lines of finalized invoices
    (from the Stripe extraction) with the warehouse; records every difference in
    push.usage_reconciliation and push.invoice_usage_reconciliation."""
    with stripe.client() as client, warehouse.connection() as con:
        report = reconcile_usage(con, client, run_id=context.run_id)
        invoiced = reconcile_invoiced_usage(con, run_id=context.run_id)
    diffs = report.differences
    yield MaterializeResult(
        metadata={
            "customer_meter_pairs": MetadataValue.int(report.pairs_checked),
            "days_compared": MetadataValue.int(report.days_compared),
            "differences": MetadataValue.int(len(diffs)),
            "first_day": MetadataValue.text(str(report.first_day)),
            "last_day": MetadataValue.text(str(report.last_day)),
            "invoice_lines_compared": MetadataValue.int(invoiced.lines_compared),
            "invoice_line_differences": MetadataValue.int(len(invoiced.differences)),
        }
    )
    yield _difference_check("stripe_usage_matches_warehouse", diffs, "push.usage_reconciliation")
    yield _difference_check(
        "invoiced_usage_matches_warehouse", invoiced.differences, "push.invoice_usage_reconciliation"
    )


def _difference_check(check_name: str, diffs: list, table: str) -> AssetCheckResult:
    """Fails on any difference, naming each (customer, meter, period, units and amount at stake)."""
    units = sum((d.difference_units for d in diffs), start=0)
    amounts: dict[str, int] = {}
    for d in diffs:
        if d.amount_at_stake is not None:
            amounts[d.currency] = amounts.get(d.currency, 0) + d.amount_at_stake
    listed = "\n".join(f"- {d.describe()}" for d in diffs[:MAX_LISTED])
    if len(diffs) > MAX_LISTED:
        listed += f"\n- ... and {len(diffs) - MAX_LISTED} more in {table}"
    return AssetCheckResult(
        check_name=check_name,
        passed=not diffs,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "differences": MetadataValue.int(len(diffs)),
            "units_at_stake": MetadataValue.text(str(units)),
            "amount_at_stake_minor_units": MetadataValue.json(amounts),
            "details": MetadataValue.md(listed or "none"),
        },
    )
