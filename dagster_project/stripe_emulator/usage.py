"""Aggregating a meter's events for one customer over [start, end): what summaries (and, later,
invoices) report.

Only processed, valid, non-cancelled events count. A meter with ``event_time_window`` takes
pre-aggregated events: within each UTC hour or day only the last one received counts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dagster_project.stripe_emulator.store import MeterEvent, Store

WINDOW_SECONDS = {"hour": 3600, "day": 86400}


def counted_events(
    store: Store, meter: dict[str, Any], customer: str, start: int, end: int, now: float
) -> list[MeterEvent]:
    events = store.counted_events(meter["id"], customer, start, end, processed_by=now)
    window = meter.get("event_time_window")
    if window:
        size = WINDOW_SECONDS[window]
        latest: dict[int, MeterEvent] = {}
        for event in events:  # ordered by timestamp, seq
            bucket = event.timestamp // size
            if bucket not in latest or event.seq > latest[bucket].seq:
                latest[bucket] = event
        events = sorted(latest.values(), key=lambda e: (e.timestamp, e.seq))
    return events


def aggregate(
    store: Store, meter: dict[str, Any], customer: str, start: int, end: int, now: float
) -> Decimal:
    events = counted_events(store, meter, customer, start, end, now)
    formula = meter["default_aggregation"]["formula"]
    if formula == "count":
        return Decimal(len(events))
    valued = [e for e in events if e.value is not None]
    if formula == "last":
        if not valued:
            return Decimal(0)
        return Decimal(max(valued, key=lambda e: (e.timestamp, e.seq)).value)  # type: ignore[arg-type]
    return sum((Decimal(e.value) for e in valued), Decimal(0))  # type: ignore[arg-type]
