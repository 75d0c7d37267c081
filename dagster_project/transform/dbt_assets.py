"""The dbt project as Dagster assets: one asset per model, dbt tests as asset checks.

Two steps per day: the push path (metering_dbt_models) and what only people read
(billing_and_finance_dbt_models), so a finance data error never holds back the push.
"""


import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from contextlib import contextmanager
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
    """Parse the dbt project when its manifest is missing or older than any model/macro/test.

    Under an exclusive lock (target/manifest.lock): processes that import this module at the
    same time (pytest-xdist workers, `dagster dev`'s code server and a run worker) parse once,
    one after the other, and none reads the manifest while another writes it. The target path
    is given explicitly: a DBT_TARGET_PATH in the environment must not move the manifest.
    """
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    with open(MANIFEST.parent / "manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not MANIFEST.exists() or MANIFEST.stat().st_mtime < _newest_source_mtime():
            subprocess.run(
                [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
                 "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(MANIFEST.parent)],
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


# The push path: what the push input is built from, and the other metering marts (usage,
# held usage, per-file line accounting). Everything else (pricing and invoice preview, the
# ledger, finance reports) is read by people, never sent to Stripe, so it runs as a second step:
# a failing finance test then fails that step alone, and billing usage goes out regardless.
PUSH_PATH_SELECT = "+fct_meter_push_input +path:models/marts/metering"

# Only tests whose every parent is on the push path may hold back the push: dbt's default
# ("eager") would also run, in the push-path step, a test that joins a push-path model with a
# finance model, so a finance error would again stop the push. Such tests run in the second
# step, after both sides are built. dagster-dbt still overrides this with "empty" when a UI
# subset names its tests one by one.
PUSH_PATH_INDIRECT_SELECTION = "cautious"

_translator = TollgateDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    select=PUSH_PATH_SELECT,
    name="metering_dbt_models",
    partitions_def=daily_partitions,
    # One day per run, like ingestion and the push: a backfill replays days in order.
    backfill_policy=BackfillPolicy.multi_run(1),
    dagster_dbt_translator=_translator,
)
def metering_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Staging, intermediate and marts models the push to Stripe reads (and their tests)."""
    yield from _build_day(context, dbt, warehouse, indirect_selection=PUSH_PATH_INDIRECT_SELECTION)


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    exclude=PUSH_PATH_SELECT,
    name="billing_and_finance_dbt_models",
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.multi_run(1),
    dagster_dbt_translator=_translator,
)
def billing_and_finance_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Rating and invoice preview, the ledger and the finance reports: after the push path,
    never before the push (nothing here is sent to Stripe)."""
    # dbt's default indirect selection: a test joining a push-path model with one of these
    # runs here, once both sides are built.
    yield from _build_day(context, dbt, warehouse, indirect_selection=None)


TOLLGATE_DBT_ASSETS = [metering_dbt_models, billing_and_finance_dbt_models]


def dbt_asset_key(model: str):
    """The asset key of a dbt model, whichever of the two dbt steps builds it."""
    for assets_def in TOLLGATE_DBT_ASSETS:
        key = get_asset_key_for_model([assets_def], model)
        if key in assets_def.keys:
            return key
    raise KeyError(f"no dbt step builds the model {model!r}")


@contextmanager
def _environ_for_dbt(values: Mapping[str, str | None]):
    # dagster-dbt passes this process's environment to the dbt process it starts in dbt.cli(),
    # so a variable set around that call reaches that invocation only. Steps run one at a time
    # in this process (in_process_executor). A None value leaves the variable as it is.
    values = {k: v for k, v in values.items() if v is not None}
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _build_day(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
               indirect_selection: str | None):
    # `build`, not `run`: dbt tests run as asset checks and hold back what depends on them.
    # The run date makes the incremental models process that day only (see
    # dbt/macros/incremental.sql). It goes in the environment (TOLLGATE_RUN_DATE), not in
    # --vars: vars that differ from the parse dbt starts from make it re-parse the whole
    # project; a changed environment variable re-parses only the models that read it.
    # DBT_INDIRECT_SELECTION: dagster-dbt reads it as the user's default when it builds the
    # invocation (and overrides it only for UI subsets that need "empty").
    window = context.partition_time_window
    environ = {"TOLLGATE_RUN_DATE": window.start.date().isoformat(),
               "DBT_INDIRECT_SELECTION": indirect_selection}
    # Events are held until dbt exits: the metadata added to each model's materialization is
    # read from the warehouse, which the dbt process holds (one writer) while it runs.
    events, failure, invocation = [], None, None
    try:
        with _environ_for_dbt(environ):
            invocation = dbt.cli(DAILY_BUILD_ARGS, context=context)
        for event in invocation.stream():
            events.append(event)
    except Exception as e:  # re-raised below, after what did happen is reported
        failure = e
    yield from with_model_metadata(context, events, warehouse, window.start.date())
    if failure is not None:
        raise failure
    remove_invocation_artifacts(invocation)


def remove_invocation_artifacts(invocation) -> None:
    """Delete a successful dbt call's own target directory.

    dagster-dbt gives every call its own directory under dbt/target (manifest, run results,
    compiled SQL, dbt.log: about 7 MB). If they were kept, the disk would fill one run at a time:
    the three-day demo left 36 of them, 263 MB. A successful call's results are already in
    Dagster's event log. A failed call's directory is kept: it is where to read what failed.
    """
    if invocation is not None:
        shutil.rmtree(invocation.target_path, ignore_errors=True)


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


PUSH_INPUT_KEY = dbt_asset_key("fct_meter_push_input")
