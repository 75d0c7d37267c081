"""Billing periods: anchored interval arithmetic in UTC, months clamped to the month's end.

A subscription that starts at ``start`` with ``billing_cycle_anchor`` ``anchor`` (>= start) has a
first period [start, anchor) when the anchor is later than the start, then periods
[anchor + k intervals, anchor + (k+1) intervals). Monthly anchors on the 31st fall on the 30th
or the 28th/29th in shorter months and return to the 31st after, as in Stripe.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

_APPROX_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 2629746, "year": 31556952}


def add_intervals(anchor: int, interval: str, count: int, k: int) -> int:
    """``anchor`` moved by ``k`` periods of ``count`` ``interval``s."""
    if interval == "day":
        return anchor + k * count * 86400
    if interval == "week":
        return anchor + k * count * 7 * 86400
    months = k * count * (12 if interval == "year" else 1)
    base = datetime.fromtimestamp(anchor, UTC)
    years, month0 = divmod(base.month - 1 + months, 12)
    year, month = base.year + years, month0 + 1
    day = min(base.day, calendar.monthrange(year, month)[1])
    return int(base.replace(year=year, month=month, day=day).timestamp())


def period_at(start: int, anchor: int, interval: str, count: int, at: int) -> tuple[int, int]:
    """The billing period [period_start, period_end) that contains ``at``."""
    if at < anchor and start < anchor:
        return start, anchor
    k = max(0, int((at - anchor) // (_APPROX_SECONDS[interval] * count)) - 1)
    while add_intervals(anchor, interval, count, k + 1) <= at:
        k += 1
    while k > 0 and add_intervals(anchor, interval, count, k) > at:
        k -= 1
    return add_intervals(anchor, interval, count, k), add_intervals(anchor, interval, count, k + 1)
