"""The Dagster definitions: lineage from landing and Stripe to the push, schedule, sensor."""

import os
from datetime import UTC, datetime

from dagster import AssetKey, DagsterInstance, build_schedule_context, build_sensor_context

from dagster_project.definitions import defs
from dagster_project.transform.dbt_assets import PUSH_INPUT_KEY


def upstream_of(key: AssetKey) -> set[AssetKey]:
    graph = defs.resolve_asset_graph()
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_push_lineage_reaches_landing_files_and_stripe_objects():
    upstream = upstream_of(AssetKey("stripe_meter_events"))
    for key in [
        "raw_usage_events", "stripe_customers", "stripe_billing_meters",
        ["staging", "stg_usage__events"], ["intermediate", "int_usage_events_deduplicated"],
        ["marts", "fct_usage_daily"], ["marts", "fct_meter_push_input"],
    ]:
        assert AssetKey(key) in upstream, key
    # The manifest feeds the per-file line accounting (a conservation check), not the push.
    assert AssetKey("raw_landing_manifest") in upstream_of(AssetKey(["marts", "fct_landing_file_accounting"]))


def test_push_input_has_a_blocking_gx_check_and_dbt_checks():
    graph = defs.resolve_asset_graph()
    check_keys = {k for k in graph.asset_check_keys if k.asset_key == PUSH_INPUT_KEY}
    names = {k.name for k in check_keys}
    assert "gx_push_input_suite" in names
    assert any(name.startswith("unique") or name.startswith("not_null") for name in names), names
    gx = next(k for k in check_keys if k.name == "gx_push_input_suite")
    assert graph.get_check_spec(gx).blocking


def test_daily_schedule_runs_yesterdays_partition():
    schedule = defs.resolve_schedule_def("daily_invoicing_schedule")
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 21, 2, 0, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    [request] = list(schedule.evaluate_tick(context).run_requests)
    assert request.partition_key == "2026-11-20"


def test_landing_sensor_requests_a_run_per_changed_day(home):
    sensor = defs.resolve_sensor_def("landing_files_sensor")
    folder = home.landing_usage_dir / "dt=2026-11-20"
    folder.mkdir(parents=True)
    (folder / "a.ndjson").write_text("{}\n")
    with DagsterInstance.ephemeral() as instance:
        first = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        assert [r.partition_key for r in first.run_requests] == ["2026-11-20"]
        again = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs, cursor=first.cursor))
        assert again.run_requests == []
        (folder / "b.ndjson").write_text("{}\n")
        later = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs, cursor=again.cursor))
        assert [r.partition_key for r in later.run_requests] == ["2026-11-20"]
    assert os.environ["TOLLGATE_HOME"] == str(home.home)


def test_every_partitioned_asset_backfills_one_day_per_run_so_ui_range_backfills_work():
    from dagster import BackfillPolicy

    from dagster_project.partitions import daily_partitions

    graph = defs.resolve_asset_graph()
    partitioned = [graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).partitions_def]
    assert {n.key.to_user_string() for n in partitioned} >= {"raw_usage_events", "stripe_meter_events"}
    for node in partitioned:
        assert node.partitions_def == daily_partitions, node.key
        assert node.backfill_policy == BackfillPolicy.multi_run(1), node.key
    job = defs.resolve_job_def("daily_invoicing_run")
    assert job.partitions_def == daily_partitions


def test_alerts_and_freshness_run_without_anyone_switching_them_on():
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    alerts = defs.resolve_sensor_def("tollgate_alerts")
    assert alerts.default_status == DefaultSensorStatus.RUNNING
    freshness = defs.resolve_schedule_def("freshness_checks_schedule")
    assert freshness.job_name == "freshness_checks" and freshness.cron_schedule == "30 * * * *"
    assert freshness.default_status == DefaultScheduleStatus.RUNNING


def test_each_gated_dataset_has_its_suite_and_only_the_push_input_blocks():
    graph = defs.resolve_asset_graph()
    gx = {k.name: graph.get_check_spec(k).blocking for k in graph.asset_check_keys if k.name.startswith("gx_")}
    assert gx == {
        "gx_raw_usage_events_suite": False,
        "gx_int_usage_events_deduplicated_suite": False,
        "gx_push_input_suite": True,
        "gx_fct_invoice_preview_suite": False,
    }
