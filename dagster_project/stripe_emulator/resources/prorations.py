"""Prorations for changes to licensed subscription items ("down to the second").

A change at time ``t`` inside an item's period [start, end) creates pending invoice items:
a credit for the unused time on the old price and quantity, a debit for the remaining time on
the new, each ``amount x (end - t) / (end - start)`` rounded once (billing.proration_amount).
Metered items are never prorated (Stripe prorates licensed items only). With
``proration_behavior=always_invoice`` the items are invoiced at once on their own invoice; with
``create_prorations`` they wait for the subscription's next invoice; ``none`` creates nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dagster_project.stripe_emulator import billing
from dagster_project.stripe_emulator.resources import invoice_items, invoices
from dagster_project.stripe_emulator.routing import Context

Snapshot = dict[str, tuple[dict[str, Any], int, tuple[int, int]]]


def _label(price: dict[str, Any], ctx: Context) -> str:
    product = ctx.store.get("product", price["product"]) or {}
    return price.get("nickname") or product.get("name") or price["id"]


def create(
    ctx: Context, sub: dict[str, Any], before: Snapshot, after: Snapshot, at: int, behavior: str
) -> list[dict[str, Any]]:
    created = []
    for item_id in sorted(set(before) | set(after)):
        old, new = before.get(item_id), after.get(item_id)
        if old and new and old[0]["id"] == new[0]["id"] and old[1] == new[1]:
            continue  # unchanged
        period = (new or old)[2]  # type: ignore[index]
        start, end = period
        if not start <= at < end:
            continue
        remaining, length = end - at, end - start
        when = datetime.fromtimestamp(at, UTC).strftime("%d %b %Y")
        for sign, side, text in ((-1, old, "Unused time"), (1, new, "Remaining time")):
            if side is None:
                continue
            price, quantity, _ = side
            full = billing.rate(price, Decimal(quantity)).amount_exact
            amount = sign * billing.proration_amount(full, remaining, length)
            created.append(
                invoice_items.new_item(
                    ctx,
                    customer=sub["customer"],
                    currency=sub["currency"],
                    amount=amount,
                    description=f"{text} on {quantity} x {_label(price, ctx)} after {when}",
                    period=(at, end),
                    price=price,
                    quantity=quantity,
                    proration=True,
                    subscription=sub["id"],
                    subscription_item=item_id,
                )
            )
    if behavior == "always_invoice" and created:
        customer = ctx.store.get("customer", sub["customer"])
        assert customer is not None
        invoice = invoices.new_invoice(
            ctx,
            customer=customer,
            currency=sub["currency"],
            subscription=sub,
            billing_reason="subscription_update",
            period_start=at,
            period_end=at,
        )
        for item in created:
            invoice_items.attach_to_invoice(ctx, item, invoice)
    return created
