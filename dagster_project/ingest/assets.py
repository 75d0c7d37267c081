"""Ingestion assets: landing-zone usage files and Stripe object snapshots."""


import hashlib
import json
from datetime import date
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    multi_asset,
    sensor,
)

from dagster_project.ingest.landing import discover_files, ingest_day
from dagster_project.ingest.stripe_extract import EXTRACTORS, ensure_raw_stripe_schema
from dagster_project.partitions import daily_partitions
from dagster_project.resources import StripeResource, WarehouseResource
from dagster_project.settings import get_settings


@multi_asset(
    specs=[
        AssetSpec(
            "raw_usage_events",
            group_name="ingest",
            description="raw.usage_events: every landed line (NDJSON line or Parquet row), fields as text.",
        ),
        AssetSpec(
            "raw_landing_manifest",
            group_name="ingest",
            description="raw.landing_manifest: one row per distinct landed file (sha256, size, lines).",
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.multi_run(1),
    check_specs=[
        AssetCheckSpec(
            "raw_lines_match_manifest",
            asset="raw_usage_events",
            description="Every line counted in the manifest is in raw.usage_events, for this day.",
        )
    ],
)
def raw_usage_events(context: AssetExecutionContext, warehouse: WarehouseResource):
    """Usage files landed on the partition's day, into raw.usage_events: NDJSON loaded line by
    line, a contract-layout Parquet file kept as it landed. A file already loaded (same sha256)
    is a no-op."""
    day = date.fromisoformat(context.partition_key)
    landing_root = get_settings().landing_usage_dir
    with warehouse.connection() as con:
        result = ingest_day(con, landing_root, day)
        landed, in_raw = con.execute(
            """
            select
                (select coalesce(sum(line_count), 0) from raw.landing_manifest where landed_date = ?),
                (select count(*) from raw.usage_events where landed_date = ?)
            """,
            [day, day],
        ).fetchone()
        unparseable = con.execute(
            "select parse_error, count(*) from raw.usage_events where landed_date = ? "
            "and parse_error is not null group by 1 order by 1",
            [day],
        ).fetchall()
    yield MaterializeResult(
        asset_key="raw_landing_manifest",
        metadata={
            "files_loaded": MetadataValue.int(result.files_loaded),
            "files_already_loaded": MetadataValue.int(result.files_skipped),
        },
    )
    yield MaterializeResult(
        asset_key="raw_usage_events",
        metadata={
            "landing_folder": MetadataValue.path(str(landing_root / f"dt={day.isoformat()}")),
            "files_loaded": MetadataValue.int(result.files_loaded),
            "files_already_loaded": MetadataValue.int(result.files_skipped),
            "lines_loaded": MetadataValue.int(result.lines_loaded),
            "lines_landed_this_day": MetadataValue.int(int(landed)),
            "unparseable_lines_by_reason": MetadataValue.json(dict(unparseable)),
        },
    )
    yield AssetCheckResult(
        check_name="raw_lines_match_manifest",
        passed=int(landed) == int(in_raw),
        severity=AssetCheckSeverity.ERROR,
        metadata={"lines_in_manifest": int(landed), "lines_in_raw": int(in_raw)},
    )


def _stripe_asset(name: str) -> AssetsDefinition:
    extractor, tables = EXTRACTORS[name]

    @multi_asset(
        name=f"extract_stripe_{name}",
        specs=[
            AssetSpec(
                f"stripe_{table}",
                group_name="stripe",
                description=f"raw_stripe.{table}: snapshot of Stripe {table.replace('_', ' ')} via the SDK.",
            )
            for table in tables
        ],
    )
    def _extract(warehouse: WarehouseResource, stripe: StripeResource):
        with stripe.client() as client, warehouse.connection() as con:
            ensure_raw_stripe_schema(con)
            counts = extractor(client, con)
        for table in tables:
            metadata = {"rows": MetadataValue.int(counts[table])}
            if table == "subscription_items":
                # appended to raw_stripe.subscription_item_versions (the items' history)
                metadata["new_item_versions"] = MetadataValue.int(counts["subscription_item_versions"])
            yield MaterializeResult(asset_key=f"stripe_{table}", metadata=metadata)

    return _extract


stripe_assets = [_stripe_asset(name) for name in EXTRACTORS]


def landing_signature(files: list[Path]) -> str:
    """Changes when a file is added, replaced or grows in a day's folder."""
    parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def landed_days(landing_root: Path) -> list[date]:
    if not landing_root.is_dir():
        return []
    days = []
    for folder in sorted(landing_root.glob("dt=*")):
        try:
            days.append(date.fromisoformat(folder.name.removeprefix("dt=")))
        except ValueError:
            continue
    return days


def build_landing_sensor(job):
    @sensor(job=job, minimum_interval_seconds=60, description="Runs the day's pipeline when files land.")
    def landing_files_sensor(context: SensorEvaluationContext):
        """One run per landing day whose folder changed since the last look. Re-landed files are
        no-ops in the run itself (manifest), so a spurious request costs a run, never a double count."""
        seen = json.loads(context.cursor) if context.cursor else {}
        landing_root = get_settings().landing_usage_dir
        valid_keys = set(daily_partitions.get_partition_keys())
        requests = []
        for day in landed_days(landing_root):
            key = day.isoformat()
            files = discover_files(landing_root, day)
            if not files or key not in valid_keys:
                continue
            signature = landing_signature(files)
            if seen.get(key) != signature:
                requests.append(RunRequest(run_key=f"{key}-{signature}", partition_key=key))
                seen[key] = signature
        return SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))

    return landing_files_sensor
