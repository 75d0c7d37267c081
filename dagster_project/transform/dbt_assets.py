"""The dbt project as Dagster assets: one asset per model, dbt tests as asset checks."""


import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, BackfillPolicy
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
    get_asset_key_for_model,
)

from dagster_project.partitions import daily_partitions
from dagster_project.resources import WarehouseResource
from dagster_project.settings import DBT_PROJECT_DIR

DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# Unit tests are worked examples on fixtures, run by the test suite (tests/test_dbt_unit_tests.py);
# a daily run skips them (those of incremental models need the model's table to exist already).
DAILY_BUILD_ARGS = ["build", "--exclude", "test_type:unit"]
_SOURCES = ("models", "macros", "tests", "dbt_project.yml")


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in _SOURCES:
        path = DBT_PROJECT_DIR / name
        paths = [path] if path.is_file() else path.rglob("*")
        newest = max([newest, *(p.stat().st_mtime for p in paths if p.is_file())])
    return newest


def ensure_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or older than any model/macro/test."""
    if not MANIFEST.exists() or MANIFEST.stat().st_mtime < _newest_source_mtime():
        subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR)],
            check=True,
        )
    return MANIFEST


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
ensure_manifest()


class TollgateDbtTranslator(DagsterDbtTranslator):
    """Groups follow the dbt folders: staging, intermediate, and the mart area (metering...)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") != "model" or len(fqn) < 3:
            return super().get_group_name(dbt_resource_props)
        layer = fqn[1]
        return fqn[2] if layer == "marts" and len(fqn) > 3 else layer


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    partitions_def=daily_partitions,
    # One day per run, like ingestion and the push: a backfill replays days in order.
    backfill_policy=BackfillPolicy.multi_run(1),
    dagster_dbt_translator=TollgateDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
)
def tollgate_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    # `build`, not `run`: dbt tests run as asset checks and hold back what depends on them.
    # run_date makes the incremental models process that day only (see dbt/macros/incremental.sql).
    window = context.partition_time_window
    dbt_vars = {"run_date": window.start.date().isoformat()}
    # Events are held until dbt exits: the metadata added to each model's materialization is
    # read from the warehouse, which the dbt process holds (one writer) while it runs.
    events, failure = [], None
    try:
        for event in dbt.cli(DAILY_BUILD_ARGS + ["--vars", json.dumps(dbt_vars)], context=context).stream():
            events.append(event)
    except Exception as e:  # re-raised below, after what did happen is reported
        failure = e
    yield from with_model_metadata(context, events, warehouse, window.start.date())
    if failure is not None:
        raise failure


def _relations() -> dict[str, tuple[str, str]]:
    """asset key path -> (name, schema.relation) for every dbt model and seed (both are tables)."""
    nodes = json.loads(MANIFEST.read_text())["nodes"]
    found = {}
    for node in nodes.values():
        if node["resource_type"] in ("model", "seed"):
            key = TollgateDbtTranslator().get_asset_key(node)
            found[tuple(key.path)] = (node["name"], f"{node['schema']}.{node.get('alias') or node['name']}")
    return found


def with_model_metadata(context, events: list, warehouse: WarehouseResource, day):
    """The dbt events, each model's materialization carrying what a billing engineer reads."""
    from dagster import AssetMaterialization, Output

    from dagster_project.observe.model_metadata import metadata_for_model

    def key_of(event):
        if isinstance(event, AssetMaterialization):
            return event.asset_key
        if isinstance(event, Output):
            return context.asset_key_for_output(event.output_name)
        return None

    relations = _relations()
    extra = {}
    try:
        with warehouse.connection(read_only=True) as con:
            for event in events:
                key = key_of(event)
                if key is not None and tuple(key.path) in relations:
                    extra[key] = metadata_for_model(con, *relations[tuple(key.path)], day)
    except Exception as e:  # noqa: BLE001 - metadata must never cost the run its results
        context.log.warning(f"model metadata not added: {type(e).__name__}: {e}")
    for event in events:
        key = key_of(event)
        if key in extra:
            event = event.with_metadata({**event.metadata, **extra[key]})
        yield event


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE
    )


PUSH_INPUT_KEY = get_asset_key_for_model([tollgate_dbt_models], "fct_meter_push_input")
