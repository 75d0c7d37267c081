"""Shared fixtures: a fresh $TOLLGATE_HOME per test, the Stripe emulator, dbt invocations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from dagster_project.settings import DBT_PROJECT_DIR, Settings, get_settings

DBT = str(Path(sys.executable).parent / "dbt")
# dbt's own files (manifest, compiled SQL, run results, partial-parse state, dbt.log) of the
# tests' dbt calls, one directory per pytest-xdist worker (PYTEST_XDIST_WORKER: gw0, gw1...;
# "main" without xdist): two workers writing one target directory would read each other's
# manifest and compiled SQL. Dagster's dbt calls write a directory per invocation and read the
# project's manifest, dbt/target/manifest.json (built under a lock: transform/dbt_assets.py).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
DBT_TARGET = DBT_PROJECT_DIR / "target" / f"pytest-{WORKER}"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Settings:
    """A fresh TOLLGATE_HOME (warehouse, landing zone, Dagster storage) for one test."""
    monkeypatch.setenv("TOLLGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    settings = get_settings()
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    return settings


@pytest.fixture
def emulator(tmp_path, monkeypatch):
    """The Stripe emulator on 127.0.0.1 (real HTTP), with STRIPE_API_BASE pointing at it."""
    from dagster_project.stripe_emulator.server import EmulatorServer

    server = EmulatorServer(tmp_path / "stripe_state").start()
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    yield server
    server.stop()


@pytest.fixture
def stripe_sdk(emulator):
    import stripe

    return stripe.StripeClient(
        "sk_test_tollgate_tests", base_addresses={"api": emulator.url, "meter_events": emulator.url}
    )


def dbt_command(*args: str, vars: dict | None = None) -> list[str]:
    cmd = [DBT, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if vars:
        cmd += ["--vars", json.dumps(vars)]
    return cmd


def dbt_env(run_date: date | str | None = None) -> dict[str, str]:
    """The environment of a dbt call: this worker's target and log directory, and the run's day
    as TOLLGATE_RUN_DATE (unset without one), as Dagster's daily build passes it."""
    env = {**os.environ, "DBT_TARGET_PATH": str(DBT_TARGET), "DBT_LOG_PATH": str(DBT_TARGET)}
    env.pop("TOLLGATE_RUN_DATE", None)
    if run_date is not None:
        env["TOLLGATE_RUN_DATE"] = str(run_date)  # a date's str() is its ISO format
    return env


def run_dbt(*args: str, run_date: date | str | None = None, vars: dict | None = None
            ) -> subprocess.CompletedProcess:
    """dbt against the current TOLLGATE_HOME's warehouse; fails the test on a dbt error.

    The day goes in `run_date` (the environment), not in `vars`: dbt re-parses the whole
    project whenever --vars differ from its previous call, and only the models that read an
    environment variable when that changes (see run_date() in dbt/macros/incremental.sql)."""
    proc = subprocess.run(dbt_command(*args, vars=vars), capture_output=True, text=True,
                          env=dbt_env(run_date))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for the session (see tests/postgres_server.py)."""
    from tests.postgres_server import postgres_server

    with postgres_server() as server:
        yield server
