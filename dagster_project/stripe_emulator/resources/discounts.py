"""Discounts: a coupon redeemed on a subscription (``discounts[][coupon]``).

A discount records when it started and, for a ``repeating`` coupon, when it ends
(``start`` + ``duration_in_months`` months), as Stripe's Discount object does. The coupon sits
under ``source.coupon`` (current API versions).
"""

from __future__ import annotations

from typing import Any

from dagster_project.stripe_emulator.errors import invalid
from dagster_project.stripe_emulator.periods import add_intervals
from dagster_project.stripe_emulator.rendering import renderer
from dagster_project.stripe_emulator.routing import Context
from dagster_project.stripe_emulator.store import new_id
from dagster_project.stripe_emulator.wire import Params

KIND = "discount"


@renderer(KIND)
def _render(ctx: Context, discount: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    return discount


def attach(
    ctx: Context, sub: dict[str, Any], raw: list[Any], currency: str | None
) -> list[str]:
    """Discount ids for ``discounts`` params; existing ones are kept when the coupon repeats."""
    existing = {
        d["source"]["coupon"]: d["id"]
        for d in (ctx.store.get(KIND, i) for i in sub.get("discounts") or [])
        if d is not None
    }
    ids: list[str] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise invalid(f"Invalid object: {entry}", f"discounts[{i}]")
        d = Params(entry, f"discounts[{i}]")
        d.only(("coupon", "discount", "promotion_code"))
        if "discount" in d:
            ids.append(ctx.load(KIND, d.str("discount") or "", "discount", d.name("discount"))["id"])
            continue
        coupon_id = d.str("coupon", required=True) or ""
        coupon = ctx.load("coupon", coupon_id, "coupon", d.name("coupon"))
        if coupon["amount_off"] is not None and currency and coupon["currency"] != currency:
            raise invalid(
                f"The coupon {coupon_id} is in {coupon['currency']}; this subscription is in "
                f"{currency}.",
                d.name("coupon"),
            )
        if coupon_id in existing:
            ids.append(existing[coupon_id])
            continue
        start = ctx.now()
        end = None
        if coupon["duration"] == "repeating":
            end = add_intervals(start, "month", 1, int(coupon["duration_in_months"]))
        discount = {
            "id": new_id("di_", 14),
            "object": "discount",
            "checkout_session": None,
            "customer": sub["customer"],
            "end": end,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": None,
            "source": {"coupon": coupon_id, "type": "coupon"},
            "start": start,
            "subscription": sub["id"],
            "subscription_item": None,
            "created": start,  # store bookkeeping
        }
        ctx.store.insert(KIND, discount, parent=sub["id"])
        coupon["times_redeemed"] = coupon.get("times_redeemed", 0) + 1
        ctx.store.save("coupon", coupon)
        ids.append(discount["id"])
    return ids


def applies(discount: dict[str, Any], coupon: dict[str, Any], period: tuple[int, int]) -> bool:
    """Does the discount apply to the invoice that closes ``period`` (created at its end)?

    forever: always; repeating: while the invoice date is before the discount's end; once: only
    the first invoice after the discount started (the one closing the period it started in).
    """
    start, end = period
    if discount["start"] > end:
        return False
    if coupon["duration"] == "forever":
        return True
    if coupon["duration"] == "repeating":
        return discount["end"] is None or end < discount["end"]
    return start <= discount["start"] < end
