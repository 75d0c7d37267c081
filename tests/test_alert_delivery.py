"""Webhook alerts survive a webhook that refuses or is down: each is posted, once, on a later tick.

Real HTTP to a local receiver on 127.0.0.1 (tests/webhook_receiver.py); the sensor ticks are
evaluated directly, one after the other, so nothing waits on a clock.
"""

import json
import socket
from collections import Counter
from datetime import datetime, timedelta

import pytest
from dagster import DagsterInstance, build_sensor_context, job, op

from dagster_project.observe.alerts import (
    RETRY_FOR,
    WEBHOOK_ENV,
    Alert,
    alerts_file,
    deliver,
    retry_undelivered,
    undelivered,
    webhook_outbox_file,
)
from dagster_project.observe.sensors import tollgate_alerts
from tests.webhook_receiver import Receiver

TOKEN = "hook-SECRET-token-4711"


@op
def call_stripe():
    raise RuntimeError("Stripe said no")


@job
def failing_job():
    call_stripe()


@op
def nothing():
    pass


@job
def canceled_job():
    nothing()


def runs_to_alert_on(instance: DagsterInstance) -> tuple[str, str]:
    """A failed run and a canceled one (canceled as the UI does: reported canceled)."""
    failed = failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id
    run = instance.create_run_for_job(canceled_job)
    instance.report_run_canceled(run, message="canceled by a person in the UI")
    return failed, run.run_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tick(instance, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor)
    result = tollgate_alerts(context)
    return context.cursor, result.skip_message


def no_secret_anywhere(home, messages: list[str]) -> None:
    written = "".join(p.read_text() for p in (home.home / "alerts").iterdir())
    for text in [written, *messages]:
        assert TOKEN not in text and "/hooks/" not in text, text


@pytest.mark.parametrize("outage", ["refuses", "down"])
def test_an_alert_the_webhook_did_not_take_is_posted_on_the_next_tick_exactly_once(home, monkeypatch, outage):
    port = free_port()
    with DagsterInstance.ephemeral() as instance:
        failed_run, canceled_run = runs_to_alert_on(instance)
        monkeypatch.setenv(WEBHOOK_ENV, f"http://127.0.0.1:{port}/hooks/tollgate?token={TOKEN}")

        # Tick 1: the webhook answers 503, or nothing listens on its port at all.
        if outage == "refuses":
            with Receiver(status=503, port=port) as refusing:
                cursor, first = tick(instance)
            assert refusing.requests and not refusing.accepted
        else:
            cursor, first = tick(instance)
        recorded = [json.loads(line) for line in alerts_file(home.home).read_text().splitlines()]
        assert {(a["kind"], a["run_id"]) for a in recorded} == {("run_failed", failed_run), ("run_canceled", canceled_run)}
        assert all(a["delivery"] != "posted" for a in recorded)
        assert {a["alert_id"] for a in undelivered(home.home)} == {a["alert_id"] for a in recorded}

        # Tick 2: the webhook is back; every alert is posted, once.
        with Receiver(status=200, port=port) as receiver:
            cursor, second = tick(instance, cursor)
            assert Counter(a["alert_id"] for a in receiver.accepted) == {a["alert_id"]: 1 for a in recorded}
            assert undelivered(home.home) == []
            # Tick 3: nothing new, nothing resent.
            _, third = tick(instance, cursor)
            assert len(receiver.requests) == len(recorded)
        canceled = next(a for a in receiver.accepted if a["kind"] == "run_canceled")
        assert canceled["severity"] == "warning" and "canceled by a person" in canceled["message"]
        assert "2 posted" in second
        # The file keeps one line per alert: the retry is in the outbox, not a second alert.
        assert len(alerts_file(home.home).read_text().splitlines()) == len(recorded)
        no_secret_anywhere(home, [first, second, third])


def test_retries_are_bounded_in_time_and_the_alert_stays_in_the_file(home, monkeypatch):
    monkeypatch.setenv(WEBHOOK_ENV, f"http://127.0.0.1:{free_port()}/hooks/tollgate?token={TOKEN}")
    [alert] = deliver([Alert(kind="run_failed", severity="error", title="t", run_id="r1")], home.home)
    assert alert["delivery"].startswith("not posted")
    later = datetime.fromisoformat(alert["created_at"]) + RETRY_FOR + timedelta(minutes=1)
    assert retry_undelivered(home.home, now=later)["gave_up"] == 1
    assert undelivered(home.home) == []  # given up: not tried again
    assert retry_undelivered(home.home, now=later + timedelta(hours=1)) == {"posted": 0, "failed": 0, "gave_up": 0, "waiting": 0}
    assert json.loads(alerts_file(home.home).read_text())["alert_id"] == alert["alert_id"]
    outcomes = [json.loads(line)["outcome"] for line in webhook_outbox_file(home.home).read_text().splitlines()]
    assert outcomes[0].startswith("not posted") and outcomes[-1].startswith("gave up")
    no_secret_anywhere(home, [])


def test_without_a_webhook_alerts_go_to_the_file_only_and_are_not_posted_later(home, monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    [alert] = deliver([Alert(kind="run_failed", severity="error", title="t", run_id="r1")], home.home)
    assert alert["delivery"] == "webhook not configured"
    with Receiver() as receiver:
        monkeypatch.setenv(WEBHOOK_ENV, receiver.url + "/hooks/tollgate")
        retry_undelivered(home.home)
    assert receiver.requests == []
