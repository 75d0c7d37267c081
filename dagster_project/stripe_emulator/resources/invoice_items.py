"""Invoice items: pending charges (prorations) waiting for a customer's next invoice.

``GET /v1/invoiceitems`` lists them (``customer``, ``pending``, ``invoice`` filters), newest first.
A pending item has ``invoice = null``; when an invoice takes it, it gets the invoice's id and a
line on that invoice.
"""

from __future__ import annotations

from typing import Any

from dagster_project.stripe_emulator.listing import LIST_PARAMS, created_filter, paginate
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import new_id

KIND = "invoiceitem"


def new_item(
    ctx: Context,
    *,
    customer: str,
    currency: str,
    amount: int,
    description: str,
    period: tuple[int, int],
    price: dict[str, Any],
    quantity: int,
    proration: bool,
    subscription: str | None,
    subscription_item: str | None,
) -> dict[str, Any]:
    now = ctx.now()
    item = {
        "id": new_id("ii_"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer,
        "date": now,
        "description": description,
        # "If true, discounts will apply to this invoice item. Always false for prorations."
        "discountable": not proration,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "net_amount": amount if proration else None,
        "parent": {
            "subscription_details": {"subscription": subscription, "subscription_item": subscription_item},
            "type": "subscription_details",
        }
        if subscription
        else None,
        "period": {"end": period[1], "start": period[0]},
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price.get("unit_amount_decimal"),
        },
        "proration": proration,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": None,
        "created": now,  # store bookkeeping
    }
    ctx.store.insert(KIND, item, parent=customer)
    return item


def pending_for_subscription(ctx: Context, subscription_id: str) -> list[dict[str, Any]]:
    out = []
    for row in ctx.store.rows(KIND, oldest_first=True):
        item = row.obj
        sub = ((item.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        if item["invoice"] is None and sub == subscription_id:
            out.append(item)
    return out


def attach_to_invoice(ctx: Context, item: dict[str, Any], invoice: dict[str, Any]) -> None:
    from dagster_project.stripe_emulator.resources import invoices

    item["invoice"] = invoice["id"]
    ctx.store.save(KIND, item)
    invoices.add_line(ctx, invoice, **invoices.line_from_invoice_item(ctx, item))


def _public(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    out.pop("created", None)
    return out


def retrieve(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    return _public(ctx.load(KIND, ctx.args["id"], "invoice item"))


def list_(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(LIST_PARAMS + ("created", "customer", "invoice", "pending"))
    customer, invoice, pending = p.str("customer"), p.str("invoice"), p.bool("pending")
    created = created_filter(p)

    def keep(item: dict[str, Any]) -> bool:
        return (
            (customer is None or item["customer"] == customer)
            and (invoice is None or item["invoice"] == invoice)
            and (pending is None or (item["invoice"] is None) == pending)
        )

    rows = [r for r in ctx.store.rows(KIND) if keep(r.obj) and created(r.created)]
    return paginate(ctx, rows, "/v1/invoiceitems", _public)


ROUTES = [
    Route("GET", "/v1/invoiceitems", list_),
    Route("GET", "/v1/invoiceitems/{id}", retrieve),
]
