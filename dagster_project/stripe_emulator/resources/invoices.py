"""Invoices and their lines.

Today invoices are created by ``POST /v1/invoices`` (a draft with no lines). ``new_invoice`` and
``add_line`` are the building blocks for generating invoices from subscriptions and meter usage
at period end: lines are stored as their own objects under the invoice, and the invoice's totals
are recomputed from them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from dagster_project.stripe_emulator.errors import invalid
from dagster_project.stripe_emulator.listing import (
    LIST_PARAMS,
    created_filter,
    list_expand,
    paginate,
)
from dagster_project.stripe_emulator.rendering import render, renderer
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import new_id
from dagster_project.stripe_emulator.wire import apply_metadata, decimal_text

KIND = "invoice"
LINE = "line_item"
STATUSES = ("draft", "open", "paid", "uncollectible", "void")
EMBEDDED_LINES = 10


@renderer(KIND)
def _render(ctx: Context, invoice: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    lines = ctx.store.children(LINE, invoice["id"])
    invoice["lines"] = {
        "object": "list",
        "data": [render(ctx, LINE, line, []) for line in lines[:EMBEDDED_LINES]],
        "has_more": len(lines) > EMBEDDED_LINES,
        "total_count": len(lines),
        "url": f"/v1/invoices/{invoice['id']}/lines",
    }
    return invoice


def new_invoice(
    ctx: Context,
    *,
    customer: dict[str, Any],
    currency: str,
    subscription: dict[str, Any] | None = None,
    billing_reason: str = "manual",
    period_start: int | None = None,
    period_end: int | None = None,
    auto_advance: bool = False,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Store and return a draft invoice without lines."""
    now = ctx.now()
    parent = None
    if subscription is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription.get("metadata") or {}),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        }
    invoice: dict[str, Any] = {
        "id": new_id("in_"),
        "object": "invoice",
        "account_country": "US",
        "account_name": "Tollgate emulator",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "confirmation_secret": None,
        "created": now,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_address": customer.get("address"),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": customer.get("shipping"),
        "customer_tax_exempt": customer.get("tax_exempt", "none"),
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "due_date": now + days_until_due * 86400 if days_until_due is not None else None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "livemode": False,
        "metadata": metadata or {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": period_end if period_end is not None else now,
        "period_start": period_start if period_start is not None else now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "threshold_reason": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }
    ctx.store.insert(KIND, invoice)
    return invoice


def add_line(
    ctx: Context,
    invoice: dict[str, Any],
    *,
    amount: int,
    description: str | None,
    period: tuple[int, int],
    price: dict[str, Any] | None = None,
    quantity: int | None = None,
    quantity_decimal: Decimal | None = None,
    unit_amount_decimal: Decimal | None = None,
    subscription_item: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Store a line on a draft invoice and bring the invoice's totals up to date."""
    subscription = (invoice.get("parent") or {}).get("subscription_details") or {}
    line: dict[str, Any] = {
        "id": new_id("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": invoice["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice["id"],
        "livemode": False,
        "metadata": metadata or {},
        "parent": None
        if subscription_item is None
        else {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription.get("subscription"),
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        },
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": None
        if price is None
        else {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": None
            if unit_amount_decimal is None
            else decimal_text(unit_amount_decimal),
        },
        "quantity": quantity,
        "quantity_decimal": None if quantity_decimal is None else decimal_text(quantity_decimal),
        "subtotal": amount,
        "taxes": [],
    }
    line["created"] = ctx.now()  # bookkeeping for the store; not part of Stripe's line shape
    ctx.store.insert(LINE, line, parent=invoice["id"])
    recompute_totals(ctx, invoice)
    return line


@renderer(LINE)
def _render_line(ctx: Context, line: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    line.pop("created", None)
    return line


def recompute_totals(ctx: Context, invoice: dict[str, Any]) -> None:
    subtotal = sum(line["amount"] for line in ctx.store.children(LINE, invoice["id"]))
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
        amount_due=max(subtotal, 0),
        amount_remaining=max(subtotal, 0) - invoice["amount_paid"],
    )
    ctx.store.save(KIND, invoice)


def minor_units(amount: Decimal) -> int:
    """An exact amount in minor units rounded to a whole unit (half to even)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def create(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(
        (
            "auto_advance",
            "collection_method",
            "currency",
            "customer",
            "days_until_due",
            "default_payment_method",
            "description",
            "due_date",
            "footer",
            "metadata",
            "pending_invoice_items_behavior",
            "subscription",
        )
    )
    customer_id = p.str("customer", required=True)
    assert customer_id is not None
    customer = ctx.load("customer", customer_id, "customer", "customer")
    subscription = None
    sub_id = p.str("subscription", empty_is_none=True)
    if sub_id is not None:
        subscription = ctx.load("subscription", sub_id, "subscription", "subscription")
        if subscription["customer"] != customer_id:
            raise invalid(
                f"The subscription {sub_id} does not belong to the customer {customer_id}.",
                "subscription",
            )
    currency = p.str("currency")
    if currency is None:
        currency = (subscription or {}).get("currency") or customer.get("currency") or "usd"
    collection = p.enum(
        "collection_method",
        ("charge_automatically", "send_invoice"),
        default="charge_automatically",
    )
    days = p.int("days_until_due", minimum=0)
    if collection == "send_invoice" and days is None and "due_date" not in p:
        raise invalid(
            "Invoices with collection_method=send_invoice need days_until_due or due_date.",
            "days_until_due",
        )
    p.enum("pending_invoice_items_behavior", ("exclude", "include"))
    invoice = new_invoice(
        ctx,
        customer=customer,
        currency=currency.lower(),
        subscription=subscription,
        billing_reason="manual",
        auto_advance=bool(p.bool("auto_advance", default=False)),
        collection_method=collection or "charge_automatically",
        days_until_due=days,
        description=p.str("description", empty_is_none=True),
        metadata=apply_metadata({}, p),
    )
    if "due_date" in p:
        invoice["due_date"] = p.int("due_date")
    if "footer" in p:
        invoice["footer"] = p.str("footer", empty_is_none=True)
    ctx.store.save(KIND, invoice)
    return render(ctx, KIND, invoice, p.expand())


def retrieve(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    invoice = ctx.load(KIND, ctx.args["id"], "invoice")
    return render(ctx, KIND, invoice, ctx.params.expand())


def list_(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(
        LIST_PARAMS
        + ("collection_method", "created", "customer", "due_date", "status", "subscription")
    )
    customer = p.str("customer")
    subscription = p.str("subscription")
    status = p.enum("status", STATUSES)
    collection = p.enum("collection_method", ("charge_automatically", "send_invoice"))
    created = created_filter(p)

    def keep(invoice: dict[str, Any]) -> bool:
        sub = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        return (
            (customer is None or invoice["customer"] == customer)
            and (subscription is None or sub == subscription)
            and (status is None or invoice["status"] == status)
            and (collection is None or invoice["collection_method"] == collection)
        )

    rows = [r for r in ctx.store.rows(KIND) if keep(r.obj) and created(r.created)]
    expand = list_expand(p)
    return paginate(ctx, rows, "/v1/invoices", lambda o: render(ctx, KIND, o, expand))


def list_lines(ctx: Context) -> dict[str, Any]:
    ctx.only(LIST_PARAMS)
    invoice = ctx.load(KIND, ctx.args["id"], "invoice")
    rows = ctx.store.rows(LINE, parent=invoice["id"], oldest_first=True)
    expand = list_expand(ctx.params)
    return paginate(
        ctx,
        rows,
        f"/v1/invoices/{invoice['id']}/lines",
        lambda o: render(ctx, LINE, o, expand),
        oldest_first=True,
    )


ROUTES = [
    Route("POST", "/v1/invoices", create),
    Route("GET", "/v1/invoices", list_),
    Route("GET", "/v1/invoices/{id}", retrieve),
    Route("GET", "/v1/invoices/{id}/lines", list_lines),
]
