"""Dagster's own storage (runs, event log, schedules) in PostgreSQL, as in the README's
dagster.yaml example: a partition of the real ingestion asset materializes and its run and
materialization are read back from the PostgreSQL tables."""

import os
import textwrap
from datetime import date

import pytest

from dagster_project.sample_data import generate_day

pytestmark = pytest.mark.postgres
DAY = date(2026, 11, 20)


def test_a_run_is_stored_in_postgres(pg_server, tmp_path, monkeypatch):
    from dagster import DagsterInstance, materialize

    from dagster_project.ingest.assets import raw_usage_events
    from dagster_project.resources import WarehouseResource

    dbname = pg_server.create_database(f"dagster_storage_{os.getpid()}")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    # The README's example, with the test server's address in the environment variables.
    (dagster_home / "dagster.yaml").write_text(textwrap.dedent("""\
        storage:
          postgres:
            postgres_db:
              hostname: {env: TOLLGATE_PG_HOST}
              port: {env: TOLLGATE_PG_PORT}
              username: {env: TOLLGATE_PG_USER}
              password: {env: TOLLGATE_PG_PASSWORD}
              db_name: {env: DAGSTER_PG_DB}
              # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; dagster-postgres ships psycopg2.
              scheme: postgresql+psycopg2
        """))
    env = pg_server.dbt_env(dbname)
    for k in ("TOLLGATE_PG_HOST", "TOLLGATE_PG_PORT", "TOLLGATE_PG_USER", "TOLLGATE_PG_PASSWORD"):
        monkeypatch.setenv(k, env[k])
    monkeypatch.setenv("DAGSTER_PG_DB", dbname)
    home = tmp_path / "home"
    monkeypatch.setenv("TOLLGATE_HOME", str(home))
    generated = generate_day(home / "landing" / "usage", DAY, customers=3, events_per_customer=5)

    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = materialize(
            [raw_usage_events], partition_key=DAY.isoformat(), instance=instance,
            resources={"warehouse": WarehouseResource(home=str(home))},
        )
        assert result.success
        [record] = instance.get_run_records()
        assert record.dagster_run.run_id == result.run_id
    finally:
        instance.dispose()

    con = pg_server.connect(dbname)
    try:
        with con.cursor() as cur:
            cur.execute("select run_id, status from runs")
            assert cur.fetchall() == [(result.run_id, "SUCCESS")]
            cur.execute(
                "select count(*) from event_logs where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
                [result.run_id],
            )
            assert cur.fetchone()[0] == 2  # raw_usage_events and raw_landing_manifest
    finally:
        con.close()
    mat = result.asset_materializations_for_node("raw_usage_events")
    lines = [m for m in mat if m.asset_key.to_user_string() == "raw_usage_events"][0]
    assert lines.metadata["lines_loaded"].value == generated.lines
