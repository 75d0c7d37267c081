"""Freshness: has usage landed lately, and has Stripe been read lately?

* ``landing_zone_freshness`` (on raw_usage_events): the newest file in the landing zone is at
  most ``TOLLGATE_LANDING_MAX_AGE_HOURS`` (default 26) old. Producers land files all day; a
  silent landing zone means usage is not reaching billing.
* ``stripe_extraction_freshness`` (on every stripe_* snapshot): each was extracted at most
  ``TOLLGATE_STRIPE_MAX_AGE_HOURS`` (default 26) ago, read from Dagster's own record of
  materializations. A stale snapshot classifies usage against old customers and subscriptions.

Both run in every daily run and, on their own, hourly (``freshness_checks_schedule``), so a
pipeline that stopped running at all is noticed too. Neither opens the warehouse.
"""


import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from dagster_project.ingest.stripe_extract import EXTRACTORS
from dagster_project.settings import get_settings

DEFAULT_MAX_AGE_HOURS = 26  # a day plus slack for the 02:00 run
STRIPE_ASSET_KEYS = [AssetKey(f"stripe_{table}") for _, tables in EXTRACTORS.values() for table in tables]


def max_age(variable: str) -> timedelta:
    return timedelta(hours=float(os.environ.get(variable, DEFAULT_MAX_AGE_HOURS)))


@dataclass(frozen=True)
class NewestFile:
    path: str | None  # relative to the landing root
    landed_at: datetime | None


def newest_landed_file(landing_root: Path) -> NewestFile:
    """The most recently written file of the newest non-empty dt= folder."""
    if landing_root.is_dir():
        for folder in sorted(landing_root.glob("dt=*"), reverse=True):
            files = [p for p in folder.iterdir() if p.is_file()]
            if files:
                newest = max(files, key=lambda p: p.stat().st_mtime)
                at = datetime.fromtimestamp(newest.stat().st_mtime, UTC)
                return NewestFile(newest.relative_to(landing_root).as_posix(), at)
    return NewestFile(None, None)


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def landing_freshness(root: Path, now: datetime, limit: timedelta) -> AssetCheckResult:
    newest = newest_landed_file(root)
    metadata = {"landing_zone": MetadataValue.path(str(root)), "max_age_hours": MetadataValue.float(_hours(limit))}
    if newest.landed_at is None:
        return AssetCheckResult(
            passed=False, severity=AssetCheckSeverity.ERROR,
            metadata={**metadata, "newest_file": MetadataValue.text("none: nothing has landed")},
        )
    age = now - newest.landed_at
    return AssetCheckResult(
        passed=age <= limit,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            **metadata,
            "newest_file": MetadataValue.text(newest.path),
            "newest_file_landed_at": MetadataValue.timestamp(newest.landed_at),
            "age_hours": MetadataValue.float(_hours(age)),
        },
    )


@asset_check(
    asset="raw_usage_events",
    name="landing_zone_freshness",
    description="The newest usage file in the landing zone is at most TOLLGATE_LANDING_MAX_AGE_HOURS "
    "(default 26) hours old.",
)
def landing_zone_freshness(context: AssetCheckExecutionContext) -> AssetCheckResult:
    return landing_freshness(
        get_settings().landing_usage_dir, datetime.now(UTC), max_age("TOLLGATE_LANDING_MAX_AGE_HOURS")
    )


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            "stripe_extraction_freshness",
            asset=key,
            description="This Stripe snapshot was extracted at most TOLLGATE_STRIPE_MAX_AGE_HOURS "
            "(default 26) hours ago.",
        )
        for key in STRIPE_ASSET_KEYS
    ],
    name="stripe_extraction_freshness",
)
def stripe_extraction_freshness(context: AssetCheckExecutionContext):
    limit = max_age("TOLLGATE_STRIPE_MAX_AGE_HOURS")
    now = datetime.now(UTC)
    for key in STRIPE_ASSET_KEYS:
        event = context.instance.get_latest_materialization_event(key)
        if event is None:
            yield AssetCheckResult(
                asset_key=key, check_name="stripe_extraction_freshness", passed=False,
                severity=AssetCheckSeverity.ERROR,
                metadata={"last_extracted_at": "never", "max_age_hours": _hours(limit)},
            )
            continue
        at = datetime.fromtimestamp(event.timestamp, UTC)
        yield AssetCheckResult(
            asset_key=key,
            check_name="stripe_extraction_freshness",
            passed=now - at <= limit,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "last_extracted_at": MetadataValue.timestamp(at),
                "age_hours": MetadataValue.float(_hours(now - at)),
                "max_age_hours": MetadataValue.float(_hours(limit)),
                "rows": event.asset_materialization.metadata.get("rows", MetadataValue.int(0))
                if event.asset_materialization else MetadataValue.int(0),
            },
        )


freshness_checks = [landing_zone_freshness, stripe_extraction_freshness]
