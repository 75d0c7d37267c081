"""Structured alerts for failed runs and failed checks: written to a file, posted to a webhook.

Every alert is one JSON object appended to ``$TOLLGATE_HOME/alerts/alerts.jsonl`` and, when
``TOLLGATE_ALERT_WEBHOOK`` is set, POSTed to it as JSON. An alert has a deterministic id
(run, kind, asset, check), so seeing the same run twice never alerts twice. Nothing secret is
ever in an alert: every string passes through ``redact`` and the webhook address is never
written anywhere (it may carry a token).

Webhook delivery has its own append-only log, ``alerts/webhook_outbox.jsonl``: one line per
outcome (``posted``, ``not posted: ...``, ``deferred``, ``gave up``). An alert counts as sent
only once a ``posted`` line exists; until then each sensor tick tries it again (oldest first, a
bounded number per tick, for at most ``RETRY_FOR``), so a webhook that is down for a while
loses nothing and a delivered alert is never posted again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster_project.observe.redact import redact, redact_obj

WEBHOOK_ENV = "TOLLGATE_ALERT_WEBHOOK"
WEBHOOK_TIMEOUT_SECONDS = 5
WEBHOOK_ATTEMPTS = 3
MAX_TEXT = 2000
# Undelivered alerts are retried on later ticks for this long after they were raised (the
# alert stays in alerts.jsonl either way), and at most this many per tick so a long outage
# cannot make one tick outlast the sensor's timeout.
RETRY_FOR = timedelta(hours=24)
MAX_RETRIES_PER_TICK = 20
POSTED = "posted"

# What to do, per check: the README's runbook has the long form under the same name.
RUNBOOK = "README.md, section Operations > Runbook"


@dataclass
class Alert:
    kind: str  # run_failed | run_canceled | check_failed
    severity: str  # error | warning
    title: str
    run_id: str
    job: str | None = None
    partition: str | None = None
    asset: str | None = None
    check: str | None = None
    message: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    runbook: str = RUNBOOK
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def alert_id(self) -> str:
        key = "|".join([self.kind, self.run_id, self.asset or "", self.check or ""])
        return hashlib.sha256(key.encode()).hexdigest()[:24]

    def to_json(self) -> dict[str, Any]:
        return redact_obj({"alert_id": self.alert_id, **asdict(self)})


def _simple(value: Any) -> Any:
    """A Dagster metadata value as plain JSON, long text cut."""
    raw = getattr(value, "value", value)
    if hasattr(raw, "timestamp") and not isinstance(raw, (int, float)):
        raw = str(raw)
    if isinstance(raw, (int, float, bool)) or raw is None:
        return raw
    if isinstance(raw, (dict, list)):
        text = json.dumps(raw, default=str)
        return raw if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."
    text = str(raw)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def alerts_for_run(instance, run) -> list[Alert]:
    """A check_failed alert per failed check evaluation of ``run``, and a run_failed alert when
    the run failed (with the failing steps' errors)."""
    from dagster import DagsterEventType, DagsterRunStatus

    partition = run.tags.get("dagster/partition")
    alerts: list[Alert] = []
    for record in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if evaluation.passed:
            continue
        severity = "error" if evaluation.severity.value == "ERROR" else "warning"
        asset = evaluation.asset_key.to_user_string()
        alerts.append(
            Alert(
                kind="check_failed",
                severity=severity,
                title=f"check {evaluation.check_name} failed on {asset}"
                + (f" for {partition}" if partition else ""),
                run_id=run.run_id,
                job=run.job_name,
                partition=partition,
                asset=asset,
                check=evaluation.check_name,
                message=evaluation.description or "",
                metadata={k: _simple(v) for k, v in (evaluation.metadata or {}).items()},
            )
        )
    if run.status == DagsterRunStatus.FAILURE:
        errors = []
        for record in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
            event = record.dagster_event
            error = event.step_failure_data.error if event.step_failure_data else None
            while error is not None and error.cause is not None:  # the user's error, not Dagster's wrapper
                error = error.cause
            detail = error.message.strip().splitlines()[0] if error and error.message else "failed"
            errors.append(f"{event.step_key}: {detail}")
        for record in instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE):
            if record.dagster_event.message:
                errors.append(record.dagster_event.message)
        alerts.append(
            Alert(
                kind="run_failed",
                severity="error",
                title=f"run of {run.job_name} failed" + (f" for {partition}" if partition else ""),
                run_id=run.run_id,
                job=run.job_name,
                partition=partition,
                message="\n".join(errors)[:MAX_TEXT],
            )
        )
    if run.status == DagsterRunStatus.CANCELED:
        # A canceled daily run may have stopped before the push: the day's usage is then not in
        # Stripe until the day is rerun. Money at risk, not yet wrong: a warning.
        reason = [record.dagster_event.message for record in instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_CANCELED)
                  if record.dagster_event.message]
        alerts.append(
            Alert(
                kind="run_canceled",
                severity="warning",
                title=f"run of {run.job_name} canceled" + (f" for {partition}" if partition else ""),
                run_id=run.run_id,
                job=run.job_name,
                partition=partition,
                message="\n".join(reason)[:MAX_TEXT],
            )
        )
    return alerts


def alerts_file(home: Path) -> Path:
    return home / "alerts" / "alerts.jsonl"


def webhook_outbox_file(home: Path) -> Path:
    return home / "alerts" / "webhook_outbox.jsonl"


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line cut by a crash mid-write: the rest is still good
            continue
    return rows


def _append_jsonl(path: Path, row: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row, default=str) + "\n")


def post_webhook(url: str, payload: dict, attempts: int = WEBHOOK_ATTEMPTS) -> str:
    """POST ``payload``; returns 'posted' or why it was not (never the address)."""
    body = json.dumps(payload, default=str).encode()
    last = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "tollgate-alerts"}
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                if 200 <= response.status < 300:
                    return POSTED
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
            if 400 <= e.code < 500 and e.code != 429:
                break
        except (urllib.error.URLError, OSError) as e:
            last = type(getattr(e, "reason", e)).__name__
        if attempt < attempts:
            time.sleep(0.5 * attempt)
    return redact(f"not posted: {last}")


class _Webhook:
    """The webhook for one tick: after a failed post, the rest of the tick's alerts are
    deferred to the next tick rather than each waiting out its own timeouts."""

    def __init__(self, url: str, outbox: Path):
        self.url, self.outbox, self.failed_this_tick = url, outbox, False

    def send(self, payload: dict, attempts: int = WEBHOOK_ATTEMPTS) -> str:
        if self.failed_this_tick:
            outcome = "deferred: the webhook failed earlier in this tick"
        else:
            outcome = post_webhook(self.url, payload, attempts)
            self.failed_this_tick = outcome != POSTED
        _append_jsonl(self.outbox, {"alert_id": payload["alert_id"], "outcome": outcome,
                                    "at": datetime.now(UTC).isoformat(timespec="seconds")})
        return outcome


def _webhook(home: Path) -> _Webhook | None:
    url = os.environ.get(WEBHOOK_ENV)
    return _Webhook(url, webhook_outbox_file(home)) if url else None


def deliver(alerts: list[Alert], home: Path) -> list[dict]:
    """Append new alerts to the alert file and post them; returns the new alerts, each with
    the outcome of its first post as ``delivery``. An alert already in the file is skipped
    (a failed post is retried by ``retry_undelivered``, not here)."""
    path = alerts_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = {row.get("alert_id") for row in _read_jsonl(path)}
    webhook = _webhook(home)
    delivered = []
    for alert in alerts:
        payload = alert.to_json()
        if payload["alert_id"] in seen:
            continue
        payload["delivery"] = webhook.send(payload) if webhook else "webhook not configured"
        _append_jsonl(path, payload)
        seen.add(payload["alert_id"])
        delivered.append(payload)
    return delivered


def undelivered(home: Path) -> list[dict]:
    """Alerts the webhook has not accepted yet (oldest first) and has not been given up on."""
    outcomes: dict[str, list[str]] = {}
    for row in _read_jsonl(webhook_outbox_file(home)):
        outcomes.setdefault(row.get("alert_id"), []).append(str(row.get("outcome", "")))
    pending = {
        alert_id for alert_id, seen in outcomes.items()
        if POSTED not in seen and not any(o.startswith("gave up") for o in seen)
    }
    return [row for row in _read_jsonl(alerts_file(home)) if row.get("alert_id") in pending]


def retry_undelivered(home: Path, now: datetime | None = None) -> dict[str, int]:
    """Posts again every alert whose earlier posts failed, up to MAX_RETRIES_PER_TICK; one try
    each (the next tick is the next try). Returns counts: posted, failed, gave_up, waiting."""
    counts = {"posted": 0, "failed": 0, "gave_up": 0, "waiting": 0}
    webhook = _webhook(home)
    pending = undelivered(home)
    if webhook is None or not pending:
        counts["waiting"] = len(pending)
        return counts
    now = now or datetime.now(UTC)
    tried = 0
    for row in pending:
        payload = {k: v for k, v in row.items() if k != "delivery"}  # what the first post sent
        created = datetime.fromisoformat(payload.get("created_at") or now.isoformat())
        if now - created > RETRY_FOR:
            _append_jsonl(webhook.outbox, {"alert_id": payload["alert_id"], "at": now.isoformat(timespec="seconds"),
                                           "outcome": f"gave up: not posted within {RETRY_FOR}"})
            counts["gave_up"] += 1
            continue
        if tried >= MAX_RETRIES_PER_TICK or webhook.failed_this_tick:
            counts["waiting"] += 1
            continue
        tried += 1
        outcome = webhook.send(payload, attempts=1)
        counts["posted" if outcome == POSTED else "failed"] += 1
    return counts
