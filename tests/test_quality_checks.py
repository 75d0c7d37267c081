"""The quality checks on their own: each can fail, and says why with numbers."""

import os
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from dagster import DagsterInstance

from dagster_project.observe.alerts import Alert, deliver
from dagster_project.observe.redact import redact
from dagster_project.quality.anomaly import THRESHOLD, find_anomalies, robust_score
from dagster_project.quality.conservation import CONSERVATION_CHECKS, evaluate
from dagster_project.quality.freshness import landing_freshness, newest_landed_file
from dagster_project.quality.gates import GX_GATES, run_gate
from dagster_project.resources import WarehouseResource
from dagster_project.warehouse import connect
from tests.webhook_receiver import Receiver

DAY = date(2026, 11, 20)


# -- anomaly: median / MAD modified z-score ---------------------------------------------------

def series(values: list[int], customer="acct_1", meter="api_requests") -> list[tuple]:
    """Daily totals ending on DAY (the last value is DAY's)."""
    start = DAY - timedelta(days=len(values) - 1)
    return [(customer, "cus_1", meter, start + timedelta(days=k), Decimal(v)) for k, v in enumerate(values) if v is not None]


def test_a_spike_far_outside_the_customers_history_is_flagged_with_its_numbers():
    history = [100, 104, 98, 101, 97, 103, 99, 102, 100, 96]
    [anomaly] = find_anomalies(series(history + [400]), DAY)
    assert anomaly.direction == "spike" and anomaly.units == 400
    assert anomaly.median == Decimal("100") and anomaly.mad == Decimal("2")
    # scale = max(1.4826 * MAD = 2.97, 5% of the median = 5) = 5; (400 - 100) / 5 = 60
    assert anomaly.score == Decimal("60.0")
    wide = [100, 120, 80, 110, 90, 115, 85, 105, 95, 100]  # MAD 10: scale 14.826
    [a] = find_anomalies(series(wide + [400]), DAY)
    assert a.mad == 10 and a.score == Decimal("20.2")  # (400 - 100) / 14.826


def test_a_drop_to_nothing_is_flagged_and_ordinary_noise_is_not():
    noisy = [100, 130, 80, 115, 90, 125, 70, 110, 95, 120]
    assert find_anomalies(series(noisy + [140]), DAY) == []
    [drop] = find_anomalies(series(noisy + [None]), DAY)  # no usage at all on the day
    assert drop.direction == "drop" and drop.units == 0


def test_one_outlier_in_history_does_not_mask_the_next_one():
    # A mean/stddev rule would be blinded by the earlier 5000; the median and MAD are not.
    history = [100, 101, 99, 5000, 100, 102, 98, 100, 101, 99]
    assert [a.units for a in find_anomalies(series(history + [900]), DAY)] == [900]


def test_too_little_history_is_not_judged_and_a_flat_history_has_a_floor():
    assert find_anomalies(series([10, 10, 10, 500]), DAY) == []  # 3 days of history
    flat = [50] * 10
    assert find_anomalies(series(flat + [52]), DAY) == []  # +4%: under 3.5 * 5% of median
    assert [a.units for a in find_anomalies(series(flat + [80]), DAY)] == [80]
    _, mad, score = robust_score(Decimal(80), [Decimal(50)] * 10)
    assert mad == 0 and score == Decimal(30) / Decimal("2.5") and score > THRESHOLD


# -- conservation checks ------------------------------------------------------------------------

def _check(name):
    return next(c for c in CONSERVATION_CHECKS if c.name == name)


def push_tables(con):
    con.execute("create schema marts; create schema push")
    con.execute(
        "create table marts.fct_meter_push_input as select * from (values "
        "('k1', 'cus_1', 'api_requests', current_date - 1, 10), ('k2', 'cus_2', 'api_requests', current_date - 1, 5)) "
        "t(push_key, stripe_customer_id, meter_event_name, usage_date, desired_value)"
    )
    from dagster_project.push.meter_push import ensure_push_schema

    ensure_push_schema(con)
    con.execute(
        "insert into push.meter_event_intents values "
        "('i1', 'k1', 1, 'cus_1', 'api_requests', current_date - 1, 10, 0, 'c', 'v', now(), 'r'), "
        "('i2', 'k2', 1, 'cus_2', 'api_requests', current_date - 1, 3, 0, 'c', 'v', now(), 'r')"
    )
    con.execute("insert into push.meter_event_outcomes values ('i1', 'delivered', 200, '', now(), 'r')")


def test_desired_equals_pushed_plus_pending_balances_and_names_what_does_not(tmp_path):
    check = _check("desired_equals_pushed_plus_pending")
    with connect(tmp_path / "w.duckdb") as con:
        push_tables(con)
        # k1: 10 desired, 10 pushed. k2: 5 desired, 3 pending (no outcome): 2 unexplained.
        result = evaluate(check, con)
        assert not result.passed
        assert result.metadata["violations"].value == 1
        assert "cus_2" in result.metadata["violating_rows"].value
        assert result.metadata["pushed_units"].value == 10 and result.metadata["pending_units"].value == 3
        con.execute("update marts.fct_meter_push_input set desired_value = 3 where push_key = 'k2'")
        assert evaluate(check, con).passed


def test_lines_landed_accounted_for_fails_when_a_line_goes_missing(tmp_path):
    check = _check("lines_landed_accounted_for")
    with connect(tmp_path / "w.duckdb") as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_landing_file_accounting as select * from (values "
            "('f1', 'dt=x/a.ndjson', date '2026-11-20', 'ndjson', 10, 10, 7, 1, 2), "
            "('f2', 'dt=x/b.ndjson', date '2026-11-20', 'ndjson', 5, 4, 3, 0, 1)) "
            "t(file_id, source_file, landed_date, file_format, lines_landed, lines_classified, accepted, duplicates, quarantined)"
        )
        result = evaluate(check, con)
    assert not result.passed and result.metadata["violations"].value == 1
    assert "b.ndjson" in result.metadata["violating_rows"].value
    assert result.metadata["lines_landed"].value == 15 and result.metadata["quarantined"].value == 3


# -- GX gates -----------------------------------------------------------------------------------

def test_a_failing_warning_gate_reports_expectations_counts_and_samples(tmp_path, monkeypatch):
    gate = next(g for g in GX_GATES if g.suite == "raw_usage_events")
    warehouse = WarehouseResource(home=str(tmp_path))
    with warehouse.connection() as con:
        from dagster_project.warehouse import ensure_raw_schema

        ensure_raw_schema(con)
        con.execute(
            "insert into raw.usage_event_lines select 'f', 's', date '2026-11-20', range + 1, 'x' || repeat('A', 500), "
            "case when range < 4 then 'malformed_json' when range = 4 then 'brand_new_reason' end, "
            "'e' || range, 'c', 'm', 't', '1', null, now() from range(10)"
        )
    result = run_gate(gate, warehouse, "2026-11-20")
    assert not result.passed and result.severity.value == "WARN"
    detail = {f["expectation"]: f for f in result.metadata["failures_detail"].value}
    assert detail["expect_column_values_to_be_in_set"]["unexpected_count"] == 1
    assert detail["expect_column_values_to_be_in_set"]["sample"] == ["brand_new_reason"]
    assert detail["expect_column_values_to_be_null"]["unexpected_count"] == 5  # 50% > 10%
    assert result.metadata["unexpected_values"].value == 6
    assert "brand_new_reason" in result.metadata["failures"].value
    # Another day's partition has no rows: nothing to fail.
    assert run_gate(gate, warehouse, "2026-11-21").passed


def test_only_the_push_input_gate_blocks():
    assert {g.name: g.blocking for g in GX_GATES} == {
        "gx_raw_usage_events_suite": False,
        "gx_int_usage_events_deduplicated_suite": False,
        "gx_push_input_suite": True,
        "gx_fct_invoice_preview_suite": False,
    }


def test_invoice_preview_suite_passes_a_sane_preview_and_names_a_negative_total():
    import pandas as pd

    from dagster_project.quality.gx_suites import validate_frame

    line = {
        "invoice_preview_line_id": "l1", "invoice_key": "k1", "stripe_customer_id": "cus_1",
        "currency": "jpy", "currency_exponent": 0, "line_type": "metered", "line_number": 1,
        "amount": 1200, "invoice_total": 1100,
    }
    discount = line | {"invoice_preview_line_id": "l2", "line_type": "discount", "line_number": 2, "amount": -100}
    assert validate_frame(pd.DataFrame([line, discount]), "fct_invoice_preview").success
    broken = validate_frame(pd.DataFrame([line | {"invoice_total": -5}]), "fct_invoice_preview")
    assert [f["expectation"] for f in broken.failures] == ["expect_column_values_to_be_between"]


# -- freshness ----------------------------------------------------------------------------------

def test_landing_zone_freshness_reads_the_newest_file(tmp_path):
    root = tmp_path / "landing"
    now = datetime.now(UTC)
    assert not landing_freshness(root, now, timedelta(hours=26)).passed  # nothing landed
    old = root / "dt=2026-11-01" / "a.ndjson"
    old.parent.mkdir(parents=True)
    old.write_text("{}\n")
    two_days_ago = time.time() - 48 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    stale = landing_freshness(root, now, timedelta(hours=26))
    assert not stale.passed and stale.metadata["age_hours"].value >= 47.9
    fresh = root / "dt=2026-11-02" / "b.ndjson"
    fresh.parent.mkdir()
    fresh.write_text("{}\n")
    assert newest_landed_file(root).path == "dt=2026-11-02/b.ndjson"
    assert landing_freshness(root, now + timedelta(minutes=1), timedelta(hours=26)).passed


def test_the_hourly_freshness_job_runs_on_its_own_and_fails_when_nothing_ran(home):
    from dagster import DagsterEventType

    from dagster_project.definitions import defs

    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("freshness_checks").execute_in_process(instance=instance, raise_on_error=False)
        evaluations = [
            e.asset_check_evaluation_data for e in result.all_events
            if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        ]
    assert {e.check_name for e in evaluations} == {"landing_zone_freshness", "stripe_extraction_freshness"}
    from dagster_project.quality.freshness import STRIPE_ASSET_KEYS

    assert len(STRIPE_ASSET_KEYS) == 14  # every raw_stripe table the extraction writes
    assert len(evaluations) == 1 + len(STRIPE_ASSET_KEYS)  # the landing zone + every Stripe snapshot
    assert not any(e.passed for e in evaluations)  # nothing landed, Stripe never read


# -- alerts -------------------------------------------------------------------------------------

def test_redaction_masks_secret_values_and_key_shapes(monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_live_abcdefghijklmnop")
    monkeypatch.setenv("TOLLGATE_ALERT_WEBHOOK", "https://hooks.example/T000/B000/XXXXsecret")
    text = redact("key sk_live_abcdefghijklmnop to https://hooks.example/T000/B000/XXXXsecret; other rk_test_zzz999")
    assert "abcdefghijklmnop" not in text and "XXXXsecret" not in text and "rk_test_zzz999" not in text


def test_alerts_are_posted_once_and_a_failing_webhook_never_reveals_its_address(tmp_path, monkeypatch):
    alert = Alert(kind="check_failed", severity="warning", title="t", run_id="r1", check="c", asset="a",
                  metadata={"amount": 5})
    with Receiver() as receiver:
        monkeypatch.setenv("TOLLGATE_ALERT_WEBHOOK", receiver.url + "/hook?token=s3cr3t-t0ken")
        [sent] = deliver([alert], tmp_path)
        assert sent["delivery"] == "posted"
        assert deliver([alert], tmp_path) == []  # same run, same check: not again
        assert [a["alert_id"] for a in receiver.alerts] == [sent["alert_id"]]
        assert receiver.alerts[0]["metadata"] == {"amount": 5}
    with Receiver(status=500) as failing:
        monkeypatch.setenv("TOLLGATE_ALERT_WEBHOOK", failing.url + "/hook?token=s3cr3t-t0ken")
        [sent] = deliver([Alert(kind="run_failed", severity="error", title="t", run_id="r2")], tmp_path)
        assert sent["delivery"] == "not posted: HTTP 500" and len(failing.requests) == 3
    written = (tmp_path / "alerts" / "alerts.jsonl").read_text()
    assert len(written.splitlines()) == 2 and "s3cr3t" not in written and "127.0.0.1" not in written
