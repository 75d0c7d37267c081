"""Great Expectations suites run as Dagster asset checks: one suite per gated dataset.

A gate is one line of ``GX_GATES`` plus one JSON suite under ``expectations/``:

* ``dbt_model_gate("fct_invoice_preview")`` gates a dbt model (relation and asset key come from
  the dbt manifest; the suite is ``expectations/fct_invoice_preview.json``);
* ``GxGate(...)`` gates anything else (a raw table, a Python asset).

Blocking gates (money leaves downstream) fail with severity ERROR and hold back what depends on
the asset in the same run; the others warn. Each check's metadata carries the failed
expectations, their unexpected counts and samples of the unexpected values.
"""


import json
from dataclasses import dataclass

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from dagster_project.observe.redact import redact, redact_obj
from dagster_project.quality.gx_suites import validate_frame
from dagster_project.resources import WarehouseResource
from dagster_project.settings import EXPECTATIONS_DIR


@dataclass(frozen=True)
class GxGate:
    suite: str  # expectations/<suite>.json
    asset: AssetKey  # the asset the check is attached to
    query: str  # SQL reading the dataset from the warehouse
    blocking: bool = False  # True where money leaves downstream
    # When set and the run is for a day's partition, only rows of that day are validated.
    partition_column: str | None = None
    check_name: str | None = None

    @property
    def name(self) -> str:
        return self.check_name or f"gx_{self.suite}_suite"


def dbt_model_gate(model: str, *, blocking: bool = False, partition_column: str | None = None,
                   check_name: str | None = None) -> GxGate:
    """A gate on a dbt model: relation and asset key from the manifest, suite named after it."""
    from dagster_project.transform.dbt_assets import MANIFEST, dbt_asset_key

    nodes = json.loads(MANIFEST.read_text())["nodes"]
    node = next(n for n in nodes.values() if n["resource_type"] == "model" and n["name"] == model)
    relation = f"{node['schema']}.{node.get('alias') or node['name']}"
    return GxGate(
        suite=model,
        asset=dbt_asset_key(model),
        query=f"select * from {relation}",
        blocking=blocking,
        partition_column=partition_column,
        check_name=check_name,
    )


GX_GATES: list[GxGate] = [
    GxGate(
        "raw_usage_events",
        AssetKey("raw_usage_events"),
        # raw_line is left out: a landed line can be megabytes of anything.
        "select * exclude (raw_line) from raw.usage_events",
        partition_column="landed_date",
    ),
    dbt_model_gate("int_usage_events_deduplicated", partition_column="landed_date"),
    dbt_model_gate("fct_meter_push_input", blocking=True, check_name="gx_push_input_suite"),
    dbt_model_gate("fct_invoice_preview"),  # warns: finance reads it; nothing leaves from it
]


def _failures_markdown(failures: list[dict]) -> str:
    lines = []
    for f in failures:
        what = f["expectation"] + (f" on `{f['column']}`" if f.get("column") else "")
        count = f"{f['unexpected_count']} unexpected" if f["unexpected_count"] is not None else "failed"
        if f.get("observed_value") is not None:
            count += f" (observed {f['observed_value']})"
        sample = f"; e.g. {', '.join(repr(v) for v in f['sample'])}" if f.get("sample") else ""
        error = f"; error: {f['error']}" if f.get("error") else ""
        lines.append(f"- **{what}**: {count}{sample}{error}")
    return redact("\n".join(lines)) or "none"


def run_gate(gate: GxGate, warehouse: WarehouseResource, partition_key: str | None) -> AssetCheckResult:
    query, params, scope = gate.query, [], "all rows"
    if gate.partition_column and partition_key:
        query = f"select * from ({gate.query}) where {gate.partition_column} = cast(? as date)"
        params, scope = [partition_key], f"{gate.partition_column} = {partition_key}"
    with warehouse.connection(read_only=True) as con:
        frame = con.execute(query, params).df()
    result = validate_frame(frame, gate.suite)
    return AssetCheckResult(
        passed=result.success,
        severity=AssetCheckSeverity.ERROR if gate.blocking else AssetCheckSeverity.WARN,
        metadata={
            "suite": MetadataValue.path(str(EXPECTATIONS_DIR / f"{gate.suite}.json")),
            "scope": MetadataValue.text(scope),
            "rows_validated": MetadataValue.int(result.rows),
            "expectations_evaluated": MetadataValue.int(result.evaluated),
            "expectations_failed": MetadataValue.int(len(result.failures)),
            "unexpected_values": MetadataValue.int(result.unexpected_total),
            "failures": MetadataValue.md(_failures_markdown(result.failures)),
            "failures_detail": MetadataValue.json(redact_obj(json.loads(json.dumps(result.failures, default=str)))),
        },
    )


def build_gx_check(gate: GxGate) -> AssetChecksDefinition:
    kind = "Blocking: when it fails, nothing downstream runs in that run." if gate.blocking else "Warning."
    description = f"Great Expectations suite expectations/{gate.suite}.json. {kind}"
    if gate.partition_column:
        description += f" Validates the run's day ({gate.partition_column})."

    @asset_check(asset=gate.asset, name=gate.name, blocking=gate.blocking, description=description)
    def _gx_check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        partition_key = context.partition_key if context.has_partition_key else None
        return run_gate(gate, warehouse, partition_key)

    return _gx_check


gx_checks = [build_gx_check(gate) for gate in GX_GATES]
