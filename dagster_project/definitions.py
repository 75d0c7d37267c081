"""The single Definitions object: ingest -> dbt -> gates -> push, plus schedule and sensor."""


import os
from datetime import timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    EnvVar,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    in_process_executor,
    schedule,
)

from dagster_project.billing.assets import invoice_preview_reconciliation
from dagster_project.ingest.assets import build_landing_sensor, raw_usage_events, stripe_assets
from dagster_project.ledger.assets import (
    finance_report,
    ledger_transactions_balance,
    raw_finance_inputs,
)
from dagster_project.observe.sensors import tollgate_alerts
from dagster_project.push.assets import stripe_meter_events
from dagster_project.push.reconcile_assets import stripe_usage_reconciliation
from dagster_project.quality.checks import quality_checks
from dagster_project.quality.freshness import freshness_checks
from dagster_project.resources import StripeResource, WarehouseResource
from dagster_project.transform.dbt_assets import TOLLGATE_DBT_ASSETS, dbt_resource

daily_invoicing_run = define_asset_job(
    "daily_invoicing_run",
    selection=AssetSelection.all(),
    description="Everything for one UTC day: land usage, snapshot Stripe, dbt build, gates, push.",
)


@schedule(
    job=daily_invoicing_run,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    description="The daily invoicing run at 02:00 UTC, for yesterday's partition.",
)
def daily_invoicing_schedule(context: ScheduleEvaluationContext):
    # Not build_schedule_from_partitioned_job: the partitions include today (end_offset=1, for
    # the landing sensor), and that helper would pick today rather than the finished day.
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return RunRequest(run_key=day, partition_key=day)


freshness_checks_job = define_asset_job(
    "freshness_checks",
    selection=AssetSelection.checks(*freshness_checks),
    description="Only the freshness checks: is usage landing, is Stripe being read.",
)

freshness_checks_schedule = ScheduleDefinition(
    name="freshness_checks_schedule",
    job=freshness_checks_job,
    cron_schedule="30 * * * *",
    execution_timezone="UTC",
    # On from the first deployment, like tollgate_alerts: a freshness check nobody switched on
    # never notices that the pipeline stopped, which is the one thing it is there for.
    default_status=DefaultScheduleStatus.RUNNING,
    description="Hourly: the landing zone and the Stripe snapshots are fresh, even on a day the "
    "pipeline did not run at all. A failure alerts through tollgate_alerts.",
)


def _stripe_resource() -> StripeResource:
    # The key is referenced as an EnvVar so the UI shows its name, never its value. The API
    # address (STRIPE_API_BASE) is read when a step runs, so the emulator can move.
    key = EnvVar("STRIPE_API_KEY") if os.environ.get("STRIPE_API_KEY") else None
    return StripeResource(api_key=key)


defs = Definitions(
    assets=[
        raw_usage_events, *stripe_assets, *TOLLGATE_DBT_ASSETS, stripe_meter_events,
        stripe_usage_reconciliation, invoice_preview_reconciliation, raw_finance_inputs, finance_report,
    ],
    asset_checks=[*quality_checks, ledger_transactions_balance],
    jobs=[daily_invoicing_run, freshness_checks_job],
    schedules=[daily_invoicing_schedule, freshness_checks_schedule],
    sensors=[build_landing_sensor(daily_invoicing_run), tollgate_alerts],
    resources={
        "warehouse": WarehouseResource(),
        "stripe": _stripe_resource(),
        "dbt": dbt_resource(),
    },
    # DuckDB admits one writing process at a time: run a job's steps in one process, in order.
    executor=in_process_executor,
)
