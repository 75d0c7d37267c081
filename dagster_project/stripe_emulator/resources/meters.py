"""Billing meters (create, retrieve, update display_name, list, deactivate, reactivate) and
their event summaries."""

from __future__ import annotations

import hashlib
from typing import Any

from dagster_project.stripe_emulator.errors import invalid
from dagster_project.stripe_emulator.listing import LIST_PARAMS, paginate
from dagster_project.stripe_emulator.rendering import render
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import Row, new_id
from dagster_project.stripe_emulator.usage import WINDOW_SECONDS, aggregate
from dagster_project.stripe_emulator.wire import json_number

KIND = "billing.meter"
FORMULAS = ("sum", "count", "last")


def meter_for_event(ctx: Context, event_name: str) -> dict[str, Any] | None:
    for row in ctx.store.rows(KIND):
        if row.obj["event_name"] == event_name:
            return row.obj
    return None


def create(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(
        (
            "customer_mapping",
            "default_aggregation",
            "display_name",
            "event_name",
            "event_time_window",
            "value_settings",
        )
    )
    display_name = p.str("display_name", required=True, max_length=250)
    event_name = p.str("event_name", required=True, max_length=100)
    aggregation = p.sub("default_aggregation", required=True)
    assert aggregation is not None and event_name is not None
    aggregation.only(("formula",))
    formula = aggregation.enum("formula", FORMULAS, required=True)

    mapping = {"event_payload_key": "stripe_customer_id", "type": "by_id"}
    m = p.sub("customer_mapping")
    if m is not None:
        m.only(("event_payload_key", "type"))
        mapping = {
            "event_payload_key": m.str("event_payload_key", required=True, max_length=100),
            "type": m.enum("type", ("by_id",), required=True),
        }
    value_key = "value"
    v = p.sub("value_settings")
    if v is not None:
        v.only(("event_payload_key",))
        value_key = v.str("event_payload_key", required=True, max_length=100) or "value"
    window = p.enum("event_time_window", ("hour", "day"))

    if meter_for_event(ctx, event_name) is not None:
        raise invalid(
            f"A meter with event_name '{event_name}' already exists. An event name can only be "
            "used by one meter.",
            "event_name",
            code="resource_already_exists",
        )
    now = ctx.now()
    meter = {
        "id": new_id("mtr_"),
        "object": "billing.meter",
        "created": now,
        "customer_mapping": mapping,
        "default_aggregation": {"formula": formula},
        "display_name": display_name,
        "event_name": event_name,
        "event_time_window": window,
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": now,
        "value_settings": {"event_payload_key": value_key},
    }
    ctx.store.insert(KIND, meter)
    return render(ctx, KIND, meter, p.expand())


def retrieve(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    return render(ctx, KIND, ctx.load(KIND, ctx.args["id"], "billing meter"), ctx.params.expand())


def update(ctx: Context) -> dict[str, Any]:
    ctx.only(("display_name",))
    meter = ctx.load(KIND, ctx.args["id"], "billing meter")
    if "display_name" in ctx.params:
        meter["display_name"] = ctx.params.str("display_name", required=True, max_length=250)
        meter["updated"] = ctx.now()
        ctx.store.save(KIND, meter)
    return render(ctx, KIND, meter, ctx.params.expand())


def _set_status(ctx: Context, status: str) -> dict[str, Any]:
    ctx.only(())
    meter = ctx.load(KIND, ctx.args["id"], "billing meter")
    if meter["status"] != status:
        now = ctx.now()
        meter["status"] = status
        meter["status_transitions"]["deactivated_at"] = now if status == "inactive" else None
        meter["updated"] = now
        ctx.store.save(KIND, meter)
    return render(ctx, KIND, meter, ctx.params.expand())


def deactivate(ctx: Context) -> dict[str, Any]:
    return _set_status(ctx, "inactive")


def reactivate(ctx: Context) -> dict[str, Any]:
    return _set_status(ctx, "active")


def list_(ctx: Context) -> dict[str, Any]:
    ctx.only(LIST_PARAMS + ("status",))
    status = ctx.params.enum("status", ("active", "inactive"))
    rows = [r for r in ctx.store.rows(KIND) if status is None or r.obj["status"] == status]
    return paginate(ctx, rows, "/v1/billing/meters", lambda o: render(ctx, KIND, o, []))


def event_summaries(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(LIST_PARAMS + ("customer", "start_time", "end_time", "value_grouping_window"))
    meter = ctx.load(KIND, ctx.args["id"], "billing meter")
    customer = p.str("customer", required=True)
    start = p.int("start_time", required=True)
    end = p.int("end_time", required=True)
    grouping = p.enum("value_grouping_window", ("hour", "day"))
    assert customer is not None and start is not None and end is not None
    ctx.load("customer", customer, "customer", "customer")
    for key, value in (("start_time", start), ("end_time", end)):
        if value % 60:
            raise invalid(f"{key} must be aligned with minute boundaries.", key)
        if grouping == "hour" and value % 3600:
            raise invalid(
                f"{key} must be aligned with hour boundaries when value_grouping_window is hour.",
                key,
            )
        if grouping == "day" and value % 86400:
            raise invalid(
                f"{key} must be aligned with day boundaries (00:00 UTC) when "
                "value_grouping_window is day.",
                key,
            )
    if start >= end:
        raise invalid("start_time must be before end_time.", "start_time")

    step = WINDOW_SECONDS[grouping] if grouping else end - start
    windows = [(s, min(s + step, end)) for s in range(start, end, step)]
    rows = [
        Row(s, 0, {"id": _summary_id(meter["id"], customer, s, e), "start_time": s, "end_time": e})
        for s, e in reversed(windows)  # newest first
    ]
    now = ctx.clock.now()

    def summary(window: dict[str, Any]) -> dict[str, Any]:
        value = aggregate(ctx.store, meter, customer, window["start_time"], window["end_time"], now)
        return {
            "id": window["id"],
            "object": "billing.meter_event_summary",
            "aggregated_value": json_number(value),
            "end_time": window["end_time"],
            "livemode": False,
            "meter": meter["id"],
            "start_time": window["start_time"],
        }

    url = f"/v1/billing/meters/{meter['id']}/event_summaries"
    return paginate(ctx, rows, url, summary, position=lambda _id: None)


def _summary_id(meter_id: str, customer: str, start: int, end: int) -> str:
    digest = hashlib.sha256(f"{meter_id}|{customer}|{start}|{end}".encode()).hexdigest()
    return "mtrusg_" + digest[:48]


ROUTES = [
    Route("POST", "/v1/billing/meters", create),
    Route("GET", "/v1/billing/meters", list_),
    Route("GET", "/v1/billing/meters/{id}", retrieve),
    Route("POST", "/v1/billing/meters/{id}", update),
    Route("POST", "/v1/billing/meters/{id}/deactivate", deactivate),
    Route("POST", "/v1/billing/meters/{id}/reactivate", reactivate),
    Route("GET", "/v1/billing/meters/{id}/event_summaries", event_summaries),
]
