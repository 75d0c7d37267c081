"""Run the daily job for a partition in-process against $TOLLGATE_HOME (CLI and tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dagster_project.settings import Settings


@dataclass
class DayRun:
    day: date
    success: bool
    run_id: str
    failed_checks: list[str]  # severity ERROR
    materialized: list[str]
    warned_checks: list[str] = field(default_factory=list)  # severity WARN


def dagster_instance(settings: Settings):
    from dagster import DagsterInstance

    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # local storage under DAGSTER_HOME, said explicitly
        config.write_text(
            "# Dagster's local storage (runs, events, schedules) lives in this folder.\n"
            "telemetry:\n  enabled: false  # nothing leaves this machine\n"
        )
    return DagsterInstance.get()


def run_day(settings: Settings, day: date, log_level: str = "INFO") -> DayRun:
    """Materialize every asset (and run every check) of ``day``'s partition."""
    from dagster import AssetCheckSeverity, DagsterEventType

    from dagster_project.definitions import defs

    job = defs.resolve_job_def("daily_invoicing_run")
    result = job.execute_in_process(
        partition_key=day.isoformat(),
        instance=dagster_instance(settings),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    failed = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION and not e.asset_check_evaluation_data.passed
    ]

    def names(severity):
        return [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed if c.severity == severity]

    materialized = [
        e.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
    ]
    return DayRun(
        day, result.success, result.run_id, names(AssetCheckSeverity.ERROR), materialized,
        names(AssetCheckSeverity.WARN),
    )
