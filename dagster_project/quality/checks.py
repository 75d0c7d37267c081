"""Every data-quality gate as a Dagster asset check, assembled for the Definitions.

* gates.py         Great Expectations suites (expectations/*.json), blocking on the push input
* conservation.py  quantities that must add up (quality/sql/*.sql)
* leakage.py       usage held for want of a Stripe customer or subscription, amount at stake
* anomaly checks   a customer's daily usage far outside its own history (anomaly.py)
* freshness.py     the landing zone and the Stripe snapshots are recent
"""


from datetime import date

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from dagster_project.observe.redact import redact
from dagster_project.quality.anomaly import HISTORY_DAYS, THRESHOLD, find_anomalies, usage_rows
from dagster_project.quality.conservation import conservation_checks
from dagster_project.quality.freshness import freshness_checks
from dagster_project.quality.gates import gx_checks
from dagster_project.quality.leakage import revenue_leakage
from dagster_project.resources import WarehouseResource
from dagster_project.transform.dbt_assets import dbt_asset_key

USAGE_DAILY_KEY = dbt_asset_key("fct_usage_daily")


@asset_check(
    asset=USAGE_DAILY_KEY,
    name="usage_anomalies",
    description=f"Warns when a customer's daily usage of a meter is far outside its own last "
    f"{HISTORY_DAYS} days (modified z-score over median and MAD, |score| > {THRESHOLD}; "
    "see quality/anomaly.py).",
)
def usage_anomalies(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connection(read_only=True) as con:
        if context.has_partition_key:
            day = date.fromisoformat(context.partition_key)
        else:
            day = con.execute("select max(usage_date) from marts.fct_usage_daily").fetchone()[0]
        found = find_anomalies(usage_rows(con, day), day) if day else []
    table = "\n".join(
        ["| customer | Stripe customer | meter | day | units | median | MAD | score | direction |",
         "|---|---|---|---|---|---|---|---|---|"]
        + [
            f"| {a.customer_id} | {a.stripe_customer_id} | {a.meter_event_name} | {a.usage_date} | "
            f"{a.units.normalize()} | {a.median.normalize()} | {a.mad.normalize()} | {a.score} | {a.direction} |"
            for a in found
        ]
    )
    return AssetCheckResult(
        passed=not found,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "day_checked": MetadataValue.text(str(day)),
            "anomalies": MetadataValue.int(len(found)),
            "threshold": MetadataValue.text(f"|modified z-score| > {THRESHOLD}"),
            "details": MetadataValue.md(redact(table) if found else "none"),
        },
    )


quality_checks = [*gx_checks, *conservation_checks, revenue_leakage, usage_anomalies, *freshness_checks]
