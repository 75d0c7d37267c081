"""Data-quality gates as Dagster asset checks."""


from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from dagster_project.quality.gx_suites import validate_frame
from dagster_project.resources import WarehouseResource
from dagster_project.transform.dbt_assets import PUSH_INPUT_KEY


@asset_check(
    asset=PUSH_INPUT_KEY,
    name="gx_push_input_suite",
    blocking=True,
    description="Great Expectations suite expectations/fct_meter_push_input.json. Blocking: "
    "when it fails, stripe_meter_events does not run.",
)
def gx_push_input_suite(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connection(read_only=True) as con:
        frame = con.execute("select * from marts.fct_meter_push_input").df()
    result = validate_frame(frame, "fct_meter_push_input")
    failed = "\n".join(
        f"- `{f['expectation']}` {f['kwargs']}: {f['unexpected_count']} unexpected, e.g. {f['sample']}"
        for f in result.failures
    )
    return AssetCheckResult(
        passed=result.success,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows_validated": MetadataValue.int(result.rows),
            "expectations_evaluated": MetadataValue.int(result.evaluated),
            "expectations_failed": MetadataValue.int(len(result.failures)),
            "failures": MetadataValue.md(failed or "none"),
        },
    )
