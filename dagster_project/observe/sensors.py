"""The alert sensor: every finished run's failures and failed checks become alerts, and alerts the
webhook did not accept are posted again on later ticks."""

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

from dagster_project.observe.alerts import alerts_for_run, deliver, retry_undelivered
from dagster_project.settings import get_settings

# Canceled too: a canceled daily run may have stopped before the push.
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
FIRST_LOOK_BACK = timedelta(days=1)
MAX_RUNS_PER_TICK = 50


@sensor(
    name="tollgate_alerts",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts on every failed or canceled run and every failed asset check (errors and "
    "warnings): a JSON line in $TOLLGATE_HOME/alerts/alerts.jsonl, and a POST to "
    "TOLLGATE_ALERT_WEBHOOK when it is set (retried on later ticks until posted, for up to a "
    "day). Watches all runs of this Dagster instance (schedule, sensor, backfills, the CLI).",
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
    # Earlier alerts first: they have waited longest, and a webhook that is still down is
    # noticed once, before the new alerts of this tick (those are then deferred, not lost).
    retried = retry_undelivered(home)
    sent = 0
    newest = after.timestamp()
    for record in records:
        sent += len(deliver(alerts_for_run(context.instance, record.dagster_run), home))
        updated = record.update_timestamp
        if updated.tzinfo is None:  # run storage keeps naive UTC
            updated = updated.replace(tzinfo=UTC)
        newest = max(newest, updated.timestamp())
    context.update_cursor(str(newest))
    # Counts only: the webhook's address (it may carry a token) is never logged.
    retry_note = (
        f"; webhook retries: {retried['posted']} posted, {retried['failed']} failed, "
        f"{retried['waiting']} waiting, {retried['gave_up']} given up"
        if any(retried.values()) else ""
    )
    if retried["gave_up"]:
        context.log.warning(f"{retried['gave_up']} alerts were never accepted by the webhook within a day; "
                            "they remain in alerts/alerts.jsonl")
    if not sent:
        return SkipReason(f"{len(records)} finished runs looked at, nothing to alert{retry_note}")
    context.log.info(f"{sent} alerts delivered{retry_note}")
    return SkipReason(f"{sent} alerts delivered{retry_note}")
