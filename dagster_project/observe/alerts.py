"""Structured alerts for failed runs and failed checks: written to a file, posted to a webhook.

Every alert is one JSON object appended to ``$TOLLGATE_HOME/alerts/alerts.jsonl`` and, when
``TOLLGATE_ALERT_WEBHOOK`` is set, POSTed to it as JSON. An alert has a deterministic id
(run, kind, asset, check), so seeing the same run twice never alerts twice. Nothing secret is
ever in an alert: every string passes through ``redact`` and the webhook address is never
written anywhere (it may carry a token).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagster_project.observe.redact import redact, redact_obj

WEBHOOK_ENV = "TOLLGATE_ALERT_WEBHOOK"
WEBHOOK_TIMEOUT_SECONDS = 5
WEBHOOK_ATTEMPTS = 3
MAX_TEXT = 2000

# What to do, per check: the README's runbook has the long form under the same name.
RUNBOOK = "README.md, section Operations > Runbook"


@dataclass
class Alert:
    kind: str  # run_failed | check_failed
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
    return alerts


def alerts_file(home: Path) -> Path:
    return home / "alerts" / "alerts.jsonl"


def _already_sent(path: Path) -> set[str]:
    if not path.exists():
        return set()
    seen = set()
    for line in path.read_text().splitlines():
        try:
            seen.add(json.loads(line)["alert_id"])
        except (ValueError, KeyError):
            continue
    return seen


def post_webhook(url: str, payload: dict) -> str:
    """POST ``payload``; returns 'posted' or why it was not (never the address)."""
    body = json.dumps(payload, default=str).encode()
    last = ""
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "tollgate-alerts"}
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                if 200 <= response.status < 300:
                    return "posted"
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
            if 400 <= e.code < 500 and e.code != 429:
                break
        except (urllib.error.URLError, OSError) as e:
            last = type(getattr(e, "reason", e)).__name__
        if attempt < WEBHOOK_ATTEMPTS:
            time.sleep(0.5 * attempt)
    return redact(f"not posted: {last}")


def deliver(alerts: list[Alert], home: Path) -> list[dict]:
    """Append new alerts to the alert file and post them; returns what was delivered."""
    path = alerts_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = _already_sent(path)
    url = os.environ.get(WEBHOOK_ENV)
    delivered = []
    for alert in alerts:
        payload = alert.to_json()
        if payload["alert_id"] in seen:
            continue
        payload["delivery"] = post_webhook(url, payload) if url else "webhook not configured"
        with path.open("a") as f:
            f.write(json.dumps(payload, default=str) + "\n")
        seen.add(payload["alert_id"])
        delivered.append(payload)
    return delivered
