"""Stripe's list objects: newest first, ``limit``, ``starting_after`` / ``ending_before``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dagster_project.stripe_emulator.errors import StripeError, invalid
from dagster_project.stripe_emulator.routing import Context
from dagster_project.stripe_emulator.store import Row
from dagster_project.stripe_emulator.wire import Params

LIST_PARAMS = ("limit", "starting_after", "ending_before", "expand")


def paginate(
    ctx: Context,
    rows: list[Row],
    url: str,
    render: Callable[[dict[str, Any]], dict[str, Any]],
    position: Callable[[str], tuple[int, int] | None] | None = None,
    oldest_first: bool = False,
) -> dict[str, Any]:
    """One page of ``rows`` (already filtered, newest first) as a list object.

    ``oldest_first``: rows come in insertion order instead (invoice lines), keyed by seq.

    A cursor object that the filters excluded still marks its place, as in Stripe, through
    ``position`` (by default its (created, seq) in the store).
    """
    params = ctx.params
    limit = params.int("limit", default=10)
    if limit is None or not 1 <= limit <= 100:
        raise invalid("Invalid integer: limit must be between 1 and 100", "limit")
    after = params.str("starting_after", empty_is_none=True)
    before = params.str("ending_before", empty_is_none=True)
    if after and before:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            "ending_before",
        )
    locate = position or ctx.store.position
    sign = -1 if oldest_first else 1
    keys = [(sign * r.created if not oldest_first else 0, sign * r.seq) for r in rows]

    def key_of(mark: tuple[int, int]) -> tuple[int, int]:
        return (0, -mark[1]) if oldest_first else mark

    if after:
        mark = key_of(_cursor(after, "starting_after", rows, locate))
        later = [r for r, k in zip(rows, keys, strict=True) if k < mark]
        page, has_more = later[:limit], len(later) > limit
    elif before:
        mark = key_of(_cursor(before, "ending_before", rows, locate))
        earlier = [r for r, k in zip(rows, keys, strict=True) if k > mark]
        page, has_more = earlier[-limit:], len(earlier) > limit
    else:
        page, has_more = rows[:limit], len(rows) > limit
    return {
        "object": "list",
        "data": [render(r.obj) for r in page],
        "has_more": has_more,
        "url": url,
    }


def _cursor(
    object_id: str, param: str, rows: list[Row], locate: Callable[[str], tuple[int, int] | None]
) -> tuple[int, int]:
    for row in rows:
        if row.obj.get("id") == object_id:
            return (row.created, row.seq)
    found = locate(object_id)
    if found is None:
        raise StripeError(
            400, f"No such object: '{object_id}'", code="resource_missing", param=param
        )
    return found


def created_filter(params: Params, key: str = "created") -> Callable[[int], bool]:
    """``created=T`` or ``created[gt|gte|lt|lte]=T`` as a predicate on a timestamp."""
    if key not in params:
        return lambda _t: True
    value = params.raw(key)
    if isinstance(value, str):
        exact = params.int(key)
        return lambda t: t == exact
    bounds = params.sub(key)
    assert bounds is not None
    bounds.only(("gt", "gte", "lt", "lte"))
    gt, gte = bounds.int("gt"), bounds.int("gte")
    lt, lte = bounds.int("lt"), bounds.int("lte")

    def accept(t: int) -> bool:
        return (
            (gt is None or t > gt)
            and (gte is None or t >= gte)
            and (lt is None or t < lt)
            and (lte is None or t <= lte)
        )

    return accept


def list_expand(params: Params) -> list[str]:
    """``expand[]=data.x`` on a list becomes ``x`` for each object."""
    return [p[len("data.") :] for p in params.expand() if p.startswith("data.")]
