"""The alert sensor: every finished run's failures and failed checks become alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from dagster_project.observe.alerts import alerts_for_run, deliver
from dagster_project.settings import get_settings

FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]
FIRST_LOOK_BACK = timedelta(days=1)
MAX_RUNS_PER_TICK = 50


@sensor(
    name="tollgate_alerts",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts on every failed run and every failed asset check (errors and warnings): "
    "a JSON line in $TOLLGATE_HOME/alerts/alerts.jsonl, and a POST to TOLLGATE_ALERT_WEBHOOK "
    "when it is set. Watches all runs of this Dagster instance (schedule, sensor, backfills, "
    "the CLI).",
)
def tollgate_alerts(context: SensorEvaluationContext):
    # Cursor: update time of the last finished run handled. Runs are read in update order, a
    # bounded number per tick; an alert's id makes re-reading a run harmless.
    if context.cursor:
        after = datetime.fromtimestamp(float(context.cursor), UTC)
    else:
        after = datetime.now(UTC) - FIRST_LOOK_BACK
    records = context.instance.get_run_records(
        filters=RunsFilter(statuses=FINISHED, updated_after=after - timedelta(seconds=1)),
        limit=MAX_RUNS_PER_TICK,
        order_by="update_timestamp",
        ascending=True,
    )
    home = get_settings().home
    sent = 0
    newest = after.timestamp()
    for record in records:
        sent += len(deliver(alerts_for_run(context.instance, record.dagster_run), home))
        updated = record.update_timestamp
        if updated.tzinfo is None:  # run storage keeps naive UTC
            updated = updated.replace(tzinfo=UTC)
        newest = max(newest, updated.timestamp())
    context.update_cursor(str(newest))
    if not sent:
        return SkipReason(f"{len(records)} finished runs looked at, nothing to alert")
    context.log.info(f"{sent} alerts delivered")
    return SkipReason(f"{sent} alerts delivered")
