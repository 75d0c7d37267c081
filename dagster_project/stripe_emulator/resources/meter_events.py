"""v1 meter events and meter event adjustments (cancel by identifier).

What Stripe rejects at once (400) and what it accepts and reports later (an asynchronous error,
and the event never counts) follows shared/STRIPE_FACTS.md §1.2; the open cases are settings.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from dagster_project.stripe_emulator.errors import StripeError, invalid
from dagster_project.stripe_emulator.resources.meters import meter_for_event
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import MeterEvent
from dagster_project.stripe_emulator.wire import decimal_text, parse_decimal


def _payload(ctx: Context) -> dict[str, str]:
    sub = ctx.params.sub("payload", required=True)
    assert sub is not None
    payload: dict[str, str] = {}
    for key, value in sub.data.items():
        if not isinstance(value, str):
            raise invalid("Invalid string: payload values must be strings", f"payload[{key}]")
        payload[key] = value
    return payload


class Lookups:
    """Meters by event_name and customers by id, each read once per request (a stream request
    carries up to 100 events, mostly for the same meters and customers)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._meters: dict[str, dict[str, Any] | None] = {}
        self._customers: dict[str, bool] = {}

    def meter(self, event_name: str) -> dict[str, Any] | None:
        if event_name not in self._meters:
            self._meters[event_name] = meter_for_event(self._ctx, event_name)
        return self._meters[event_name]

    def customer_exists(self, customer: str) -> bool:
        if customer not in self._customers:
            found = self._ctx.store.get("customer", customer)
            self._customers[customer] = found is not None and not found.get("deleted")
        return self._customers[customer]


def evaluate_event(
    ctx: Context,
    lookups: Lookups,
    event_name: str,
    payload: dict[str, str],
    timestamp: int,
    now: float,
    *,
    synchronous: bool,
) -> tuple[dict[str, Any] | None, str | None, str | None, list[tuple[str, str]]]:
    """(meter, customer, value, asynchronous errors) for one event.

    ``synchronous``: the v1 endpoint, which may refuse some problems with a 400 (settings decide
    which). The v2 stream validates everything asynchronously: it never raises here, every
    problem becomes an error report and the event never counts.
    """
    settings = ctx.settings
    errors: list[tuple[str, str]] = []  # (code, message) reported asynchronously
    if timestamp < now - settings.timestamp_max_age_seconds:
        message = (
            f"Timestamp {timestamp} is too far in the past: meter events must be within the "
            f"past {settings.timestamp_max_age_seconds // 86400} days."
        )
        if synchronous and settings.reject_out_of_window_timestamps:
            raise invalid(message, "timestamp")
        errors.append(("timestamp_too_far_in_past", message))
    elif timestamp > now + settings.timestamp_max_future_seconds:
        message = (
            f"Timestamp {timestamp} is too far in the future: meter events can be at most "
            f"{settings.timestamp_max_future_seconds // 60} minutes ahead."
        )
        if synchronous and settings.reject_out_of_window_timestamps:
            raise invalid(message, "timestamp")
        errors.append(("timestamp_in_future", message))

    meter = lookups.meter(event_name)
    customer: str | None = None
    value: str | None = None
    if meter is None:
        errors.append(("no_meter", f"No active meter was found for event_name '{event_name}'."))
    else:
        if meter["status"] != "active":
            errors.append(("archived_meter", f"The meter {meter['id']} is inactive."))
        customer_key = meter["customer_mapping"]["event_payload_key"]
        customer = payload.get(customer_key) or None
        if customer is None:
            errors.append(
                (
                    "meter_event_no_customer_defined",
                    f"The payload has no customer under '{customer_key}'.",
                )
            )
        elif not lookups.customer_exists(customer):
            errors.append(("meter_event_customer_not_found", f"No such customer: '{customer}'."))
        value, value_error = _value(ctx, meter, payload, synchronous)
        if value_error:
            errors.append(value_error)
    return meter, customer, value, errors


def create(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    settings = ctx.settings
    ctx.only(("event_name", "identifier", "payload", "timestamp"))
    event_name = p.str("event_name", required=True, max_length=100)
    assert event_name is not None
    payload = _payload(ctx)
    identifier = p.str("identifier", max_length=100) or str(uuid.uuid4())
    now = ctx.clock.now()
    timestamp = p.int("timestamp", default=int(now))
    assert timestamp is not None

    earlier = ctx.store.events_with_identifier(identifier, now - settings.identifier_window_seconds)
    if earlier:
        raise StripeError(
            400,
            f"An event already exists with identifier {identifier}.",
            code=settings.duplicate_identifier_code or None,
            param="identifier",
            headers={"Stripe-Should-Retry": "false"},
        )

    meter, customer, value, errors = evaluate_event(
        ctx, Lookups(ctx), event_name, payload, timestamp, now, synchronous=True
    )
    response = {
        "object": "billing.meter_event",
        "created": int(now),
        "event_name": event_name,
        "identifier": identifier,
        "livemode": False,
        "payload": payload,
        "timestamp": timestamp,
    }
    ctx.store.insert_meter_event(
        MeterEvent(
            seq=0,
            event_name=event_name,
            identifier=identifier,
            timestamp=timestamp,
            received_at=now,
            processed_at=now + settings.processing_delay_seconds,
            payload=payload,
            meter_id=meter["id"] if meter else None,
            customer=customer,
            value=value,
            status="error" if errors else "ok",
            error_code=errors[0][0] if errors else None,
            cancelled_at=None,
            response=response,
        )
    )
    for code, message in errors:
        ctx.store.record_meter_event_error(
            now, code, message, event_name, identifier, meter["id"] if meter else None
        )
    return response


def _value(
    ctx: Context, meter: dict[str, Any], payload: dict[str, str], synchronous: bool
) -> tuple[str | None, tuple[str, str] | None]:
    """The event's value as a decimal string, or an asynchronous error; 400 where configured
    (v1 only: the stream reports every problem asynchronously)."""
    settings = ctx.settings
    key = meter["value_settings"]["event_payload_key"]
    raw = payload.get(key)
    counting = meter["default_aggregation"]["formula"] == "count"
    if raw is None:
        if counting:
            return None, None
        return None, ("meter_event_invalid_value", f"The payload has no value under '{key}'.")
    number = parse_decimal(raw)
    if number is None:
        message = f"Invalid value '{raw}' for payload[{key}]: it must be a number."
        if synchronous and settings.reject_non_numeric_values:
            raise invalid(message, f"payload[{key}]")
        return None, ("meter_event_invalid_value", message)
    if not settings.allow_decimal_values and number != number.to_integral_value():
        message = f"Invalid value '{raw}' for payload[{key}]: it must be a whole number."
        if synchronous:
            raise invalid(message, f"payload[{key}]")
        return None, ("meter_event_invalid_value", message)
    places = -number.as_tuple().exponent if isinstance(number.as_tuple().exponent, int) else 0
    if places > settings.max_value_decimal_places:
        return None, (
            "meter_event_value_too_many_digits",
            f"Value '{raw}' has more than {settings.max_value_decimal_places} decimal places.",
        )
    return decimal_text(Decimal(number)), None


def create_adjustment(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(("cancel", "event_name", "type"))
    event_name = p.str("event_name", required=True, max_length=100)
    adjustment_type = p.enum("type", ("cancel",), required=True)
    cancel = p.sub("cancel", required=True)
    assert cancel is not None
    cancel.only(("identifier",))
    identifier = cancel.str("identifier", required=True, max_length=100)
    assert identifier is not None
    now = ctx.clock.now()
    matching = [
        e for e in ctx.store.meter_events(identifier=identifier) if e.event_name == event_name
    ]
    if not matching:
        raise StripeError(
            400,
            f"No meter event with identifier '{identifier}' and event_name '{event_name}' exists.",
            code="resource_missing",
            param="cancel[identifier]",
        )
    target = matching[-1]
    if now - target.received_at > ctx.settings.adjustment_window_seconds:
        raise invalid(
            f"The meter event with identifier '{identifier}' can no longer be cancelled: events "
            f"can only be cancelled within {ctx.settings.adjustment_window_seconds // 3600} hours "
            "of being received.",
            "cancel[identifier]",
        )
    if target.cancelled_at is None:
        ctx.store.cancel_meter_event(target.seq, now)
    return {
        "object": "billing.meter_event_adjustment",
        "cancel": {"identifier": identifier},
        "event_name": event_name,
        "livemode": False,
        "status": "pending",
        "type": adjustment_type,
    }


ROUTES = [
    Route("POST", "/v1/billing/meter_events", create),
    Route("POST", "/v1/billing/meter_event_adjustments", create_adjustment),
]
