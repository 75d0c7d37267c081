"""Coupons: create, retrieve, list, delete.

A coupon has ``percent_off`` (0 < p <= 100) or ``amount_off`` with ``currency``; ``duration`` is
``once``, ``repeating`` (needs ``duration_in_months``) or ``forever``. Coupons reach subscriptions
as discounts (``discounts[][coupon]`` on create/update), see subscriptions.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dagster_project.stripe_emulator.errors import invalid, missing
from dagster_project.stripe_emulator.listing import LIST_PARAMS, created_filter, paginate
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import new_id
from dagster_project.stripe_emulator.wire import apply_metadata, json_number

KIND = "coupon"

_CREATE = (
    "amount_off",
    "currency",
    "duration",
    "duration_in_months",
    "id",
    "max_redemptions",
    "metadata",
    "name",
    "percent_off",
    "redeem_by",
)


def create(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(_CREATE)
    if ("percent_off" in p) == ("amount_off" in p):
        raise invalid("You must specify exactly one of percent_off or amount_off.", "percent_off")
    percent: Decimal | None = None
    amount_off = None
    currency = None
    if "percent_off" in p:
        percent = p.decimal("percent_off", max_places=2)
        assert percent is not None
        if not Decimal(0) < percent <= Decimal(100):
            raise invalid("percent_off must be greater than 0 and at most 100.", "percent_off")
    else:
        amount_off = p.int("amount_off", minimum=1)
        currency = p.str("currency")
        if currency is None:
            raise missing("currency")
        currency = currency.lower()
    duration = p.enum("duration", ("forever", "once", "repeating"), default="once")
    months = p.int("duration_in_months", minimum=1)
    if duration == "repeating" and months is None:
        raise missing("duration_in_months")
    if duration != "repeating" and months is not None:
        raise invalid(
            "duration_in_months can only be set when duration is repeating.", "duration_in_months"
        )
    coupon_id = p.str("id", empty_is_none=True) or new_id("", 8)
    if ctx.store.get(KIND, coupon_id) is not None:
        raise invalid(f"Coupon already exists: {coupon_id}", "id", code="resource_already_exists")
    coupon = {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": amount_off,
        "applies_to": None,
        "created": ctx.now(),
        "currency": currency,
        "duration": duration,
        "duration_in_months": months,
        "livemode": False,
        "max_redemptions": p.int("max_redemptions", minimum=1),
        "metadata": apply_metadata({}, p),
        "name": p.str("name", empty_is_none=True, max_length=40),
        # Stripe sends percent_off as a JSON number; the emulator keeps its exact text too.
        "percent_off": None if percent is None else json_number(percent),
        "percent_off_decimal": None if percent is None else str(percent),
        "redeem_by": p.int("redeem_by"),
        "times_redeemed": 0,
        "valid": True,
    }
    ctx.store.insert(KIND, coupon)
    return _public(coupon)


def _public(coupon: dict[str, Any]) -> dict[str, Any]:
    out = dict(coupon)
    out.pop("percent_off_decimal", None)
    return out


def percent_off(coupon: dict[str, Any]) -> Decimal | None:
    text = coupon.get("percent_off_decimal")
    return None if text is None else Decimal(text)


def retrieve(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    return _public(ctx.load(KIND, ctx.args["id"], "coupon"))


def delete(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    coupon = ctx.load(KIND, ctx.args["id"], "coupon")
    ctx.store.delete(KIND, coupon["id"])
    return {"id": coupon["id"], "object": "coupon", "deleted": True}


def list_(ctx: Context) -> dict[str, Any]:
    ctx.only(LIST_PARAMS + ("created",))
    created = created_filter(ctx.params)
    rows = [r for r in ctx.store.rows(KIND) if created(r.created)]
    return paginate(ctx, rows, "/v1/coupons", _public)


ROUTES = [
    Route("POST", "/v1/coupons", create),
    Route("GET", "/v1/coupons", list_),
    Route("GET", "/v1/coupons/{id}", retrieve),
    Route("DELETE", "/v1/coupons/{id}", delete),
]
