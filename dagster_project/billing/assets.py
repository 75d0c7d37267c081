"""invoice_preview_reconciliation: the warehouse's invoice preview against Stripe's own."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dagster_project.billing.preview_reconcile import reconcile_previews
from dagster_project.resources import StripeResource, WarehouseResource

MAX_LISTED = 50


@asset(
    # After the push, so Stripe's meters hold what the preview rated.
    deps=["stripe_meter_events", AssetKey(["marts", "fct_invoice_preview"])],
    group_name="billing",
    check_specs=[
        AssetCheckSpec(
            "invoice_preview_matches_stripe",
            asset="invoice_preview_reconciliation",
            description="Every line of every upcoming invoice in marts.fct_invoice_preview equals "
            "Stripe's create_preview line, in minor units; each difference is listed.",
        )
    ],
)
def invoice_preview_reconciliation(
    context: AssetExecutionContext, warehouse: WarehouseResource, stripe: StripeResource
):
    """Asks Stripe for each subscription's upcoming invoice and compares it line by line with
    marts.fct_invoice_preview; differences go to billing.invoice_preview_reconciliation."""
    with stripe.client() as client, warehouse.connection() as con:
        report = reconcile_previews(con, client, run_id=context.run_id)
    diffs = report.differences
    listed = "\n".join(f"- {d.describe()}" for d in diffs[:MAX_LISTED])
    yield MaterializeResult(
        metadata={
            "invoices_compared": MetadataValue.int(report.invoices_compared),
            "lines_compared": MetadataValue.int(report.lines_compared),
            "differences": MetadataValue.int(len(diffs)),
            "commitment_true_ups_not_in_stripe": MetadataValue.json(
                {k: v for k, v in report.true_ups.items() if v}
            ),
        }
    )
    yield AssetCheckResult(
        check_name="invoice_preview_matches_stripe",
        passed=not diffs,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "differences": MetadataValue.int(len(diffs)),
            "minor_units_at_stake": MetadataValue.int(sum(abs(d.difference) for d in diffs)),
            "details": MetadataValue.md(listed or "none"),
        },
    )
