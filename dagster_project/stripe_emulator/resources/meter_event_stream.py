"""v2 meter event sessions and the high-throughput meter event stream (STRIPE_FACTS.md 1.5).

* ``POST /v2/billing/meter_event_session`` (secret key): a session whose ``authentication_token``
  is valid for 15 minutes (``meter_event_session_ttl_seconds``).
* ``POST /v2/billing/meter_event_stream`` (the session token as Bearer; the pipeline checks it):
  up to 100 events per request, answered ``{}``. Only the request's shape is checked at once
  (400). Everything about an event's content is validated asynchronously, as Stripe documents:
  an invalid event is stored with status ``error`` and an error report, and never counts. An
  identifier already received within the identifier window is dropped silently (counted in
  ``counters.stream_duplicate_identifiers_ignored``), never counted twice.

Stream events land in the same ``meter_events`` table as v1 events (``api = 'stream'``), so
event summaries and invoices read both.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dagster_project.stripe_emulator.errors import StripeError, invalid, missing, unknown_param
from dagster_project.stripe_emulator.resources.meter_events import Lookups, evaluate_event
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import MeterEvent, MeterEventSession, new_id

SESSION_PATH = "/v2/billing/meter_event_session"
STREAM_PATH = "/v2/billing/meter_event_stream"
EVENT_FIELDS = ("event_name", "identifier", "payload", "timestamp")
# Not a secret-key prefix: a session token must never authenticate a v1 call.
TOKEN_PREFIX = "mets_test_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def rfc3339(unix: float) -> str:
    """v2 renders times as RFC 3339 with milliseconds: 2024-06-01T12:00:00.000Z."""
    moment = datetime.fromtimestamp(unix, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def session_expired() -> StripeError:
    return StripeError(
        401,
        "The meter event session has expired (or was never valid). Create a new meter event "
        "session and use its authentication token.",
        type="temporary_session_expired",
        code="billing_meter_event_session_expired",
    )


def create_session(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    now = ctx.clock.now()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session = MeterEventSession(
        id=new_id("mes_"),
        api_key=ctx.api_key,
        created=now,
        expires_at=now + ctx.settings.meter_event_session_ttl_seconds,
    )
    ctx.store.insert_session(session, token_digest(token))
    return {
        "id": session.id,
        "object": "v2.billing.meter_event_session",
        "authentication_token": token,
        "created": rfc3339(session.created),
        "expires_at": rfc3339(session.expires_at),
        "livemode": False,
    }


@dataclass(frozen=True)
class StreamEvent:
    event_name: str
    identifier: str | None
    payload: dict[str, str]
    timestamp: int | None


def _parse_event(index: int, raw: Any, reject_unknown: bool) -> StreamEvent:
    """The request's shape, checked at once (400) like any JSON schema check at Stripe's edge."""
    name = f"events[{index}]"
    if not isinstance(raw, dict):
        raise invalid(f"Invalid object: {name} must be an object.", name)
    if reject_unknown:
        for key in raw:
            if key not in EVENT_FIELDS:
                raise unknown_param(f"{name}.{key}")
    event_name = raw.get("event_name")
    if event_name is None or event_name == "":
        raise missing(f"{name}.event_name")
    if not isinstance(event_name, str) or len(event_name) > 100:
        raise invalid(f"Invalid {name}.event_name: a string of at most 100 characters.", f"{name}.event_name")
    payload = raw.get("payload")
    if payload is None:
        raise missing(f"{name}.payload")
    if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
        raise invalid(f"Invalid {name}.payload: a map of strings.", f"{name}.payload")
    identifier = raw.get("identifier")
    if identifier is not None and (not isinstance(identifier, str) or not 0 < len(identifier) <= 100):
        raise invalid(f"Invalid {name}.identifier: a string of 1 to 100 characters.", f"{name}.identifier")
    timestamp = raw.get("timestamp")
    unix: int | None = None
    if timestamp is not None:
        unix = _parse_timestamp(timestamp, f"{name}.timestamp")
    return StreamEvent(event_name, identifier, dict(payload), unix)


def _parse_timestamp(value: Any, param: str) -> int:
    if not isinstance(value, str):
        raise invalid(f"Invalid {param}: an RFC 3339 date-time string.", param)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(f"Invalid {param}: '{value}' is not an RFC 3339 date-time.", param) from None
    if moment.tzinfo is None:
        raise invalid(f"Invalid {param}: '{value}' has no time zone offset.", param)
    return int(moment.timestamp())


def create_stream(ctx: Context) -> dict[str, Any]:
    settings = ctx.settings
    ctx.only(("events",))
    raw_events = ctx.params.raw("events")
    if raw_events is None:
        raise missing("events")
    if not isinstance(raw_events, list) or not raw_events:
        raise invalid("Invalid events: a non-empty array of meter events.", "events")
    if len(raw_events) > settings.meter_event_stream_max_events:
        raise invalid(
            f"Too many events: {len(raw_events)}. A request supports up to "
            f"{settings.meter_event_stream_max_events} events.",
            "events",
        )
    parsed = [
        _parse_event(i, raw, settings.reject_unknown_params) for i, raw in enumerate(raw_events)
    ]

    now = ctx.clock.now()
    given = [e.identifier for e in parsed if e.identifier is not None]
    seen = ctx.store.identifiers_received_since(given, now - settings.identifier_window_seconds)
    lookups = Lookups(ctx)
    stored: list[MeterEvent] = []
    reports: list[tuple[str, str, str, str, str | None]] = []
    duplicates = 0
    for event in parsed:
        identifier = event.identifier or str(uuid.uuid4())
        if identifier in seen:
            duplicates += 1  # Stripe dedupes identifiers: the copy is dropped, never counted
            continue
        seen.add(identifier)
        timestamp = event.timestamp if event.timestamp is not None else int(now)
        meter, customer, value, errors = evaluate_event(
            ctx, lookups, event.event_name, event.payload, timestamp, now, synchronous=False
        )
        meter_id = meter["id"] if meter else None
        stored.append(
            MeterEvent(
                seq=0,
                event_name=event.event_name,
                identifier=identifier,
                timestamp=timestamp,
                received_at=now,
                processed_at=now + settings.processing_delay_seconds,
                payload=event.payload,
                meter_id=meter_id,
                customer=customer,
                value=value,
                status="error" if errors else "ok",
                error_code=errors[0][0] if errors else None,
                cancelled_at=None,
                response={
                    "object": "v2.billing.meter_event",
                    "created": rfc3339(now),
                    "event_name": event.event_name,
                    "identifier": identifier,
                    "livemode": False,
                    "payload": event.payload,
                    "timestamp": rfc3339(timestamp),
                },
                api="stream",
            )
        )
        reports.extend(
            (code, message, event.event_name, identifier, meter_id) for code, message in errors
        )
    ctx.store.insert_meter_events(stored)
    for code, message, event_name, identifier, meter_id in reports:
        ctx.store.record_meter_event_error(now, code, message, event_name, identifier, meter_id)
    ctx.store.add_to_counters(
        {
            "stream_requests_accepted": 1,
            "stream_events_received": len(parsed),
            "stream_events_recorded": len(stored),
            "stream_events_invalid": sum(e.status == "error" for e in stored),
            "stream_duplicate_identifiers_ignored": duplicates,
        }
    )
    return {}


ROUTES = [
    Route("POST", SESSION_PATH, create_session),
    Route("POST", STREAM_PATH, create_stream),
]
