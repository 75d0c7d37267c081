"""Invoices and their lines.

``POST /v1/invoices`` creates a draft with no lines. ``POST /v1/invoices/create_preview`` computes
the upcoming invoice of a subscription (Stripe's replacement for ``GET /v1/invoices/upcoming``
since the basil API version) without storing it: see ``preview`` below for what goes on it.
``new_invoice`` and ``add_line`` are the building blocks: stored lines live under their invoice,
and the invoice's totals are recomputed from them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dagster_project.stripe_emulator import billing
from dagster_project.stripe_emulator.errors import StripeError, invalid
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
    store: bool = True,
) -> dict[str, Any]:
    """Store (unless ``store=False``: a preview) and return a draft invoice without lines."""
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
    if store:
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
    proration: bool = False,
    discountable: bool = True,
    invoice_item: str | None = None,
) -> dict[str, Any]:
    """Store a line on a draft invoice and bring the invoice's totals up to date."""
    line = build_line(
        ctx, invoice, amount=amount, description=description, period=period, price=price,
        quantity=quantity, quantity_decimal=quantity_decimal,
        unit_amount_decimal=unit_amount_decimal, subscription_item=subscription_item,
        metadata=metadata, proration=proration, discountable=discountable,
        invoice_item=invoice_item,
    )
    line["created"] = ctx.now()  # bookkeeping for the store; not part of Stripe's line shape
    ctx.store.insert(LINE, line, parent=invoice["id"])
    recompute_totals(ctx, invoice)
    return line


def build_line(
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
    proration: bool = False,
    discountable: bool = True,
    invoice_item: str | None = None,
) -> dict[str, Any]:
    """A line item in Stripe's shape (not stored)."""
    subscription = (invoice.get("parent") or {}).get("subscription_details") or {}
    line: dict[str, Any] = {
        "id": new_id("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": invoice["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": discountable,
        "discounts": [],
        "invoice": invoice["id"],
        "livemode": False,
        "metadata": metadata or {},
        "parent": None
        if subscription_item is None
        else {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
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
    """An exact amount in minor units rounded once to a whole unit, half up (billing.py)."""
    return billing.round_half_up(amount)


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


def line_from_invoice_item(ctx: Context, item: dict[str, Any]) -> dict[str, Any]:
    """``add_line``/``build_line`` arguments for an invoice item (a proration)."""
    price = ctx.store.get("price", item["pricing"]["price_details"]["price"])
    details = (item.get("parent") or {}).get("subscription_details") or {}
    return {
        "amount": item["amount"],
        "description": item["description"],
        "period": (item["period"]["start"], item["period"]["end"]),
        "price": price,
        "quantity": item["quantity"],
        "subscription_item": details.get("subscription_item"),
        "metadata": {},
        "invoice_item": item["id"],
        "proration": bool(item["proration"]),
        "discountable": bool(item["discountable"]),
    }


def preview(ctx: Context, subscription: dict[str, Any]) -> dict[str, Any]:
    """The invoice Stripe would create when the subscription's current period ends.

    * metered items: the meter's aggregated usage over [period start, period end), as processed
      by now, rated by the item's price (billing.rate), in arrears; an item whose price took
      effect mid-period (price changed, item added) bills only [that moment, period end), and a
      deleted item bills nothing (Stripe's classic billing mode);
    * licensed items: quantity x price for the *next* period, in advance (none when the
      subscription cancels at the end of this period);
    * pending invoice items of the subscription (prorations), as created;
    * discounts of the subscription that apply to this invoice (discounts.applies), on the
      discountable subtotal (prorations are not discountable).
    Each line is rounded once, half up (billing.round_half_up); totals are sums of lines.
    """
    from dagster_project.stripe_emulator.resources import (
        coupons,
        discounts,
        invoice_items,
        subscriptions,
    )
    from dagster_project.stripe_emulator.usage import aggregate

    sub = subscriptions._refreshed(ctx, subscription)
    if sub["status"] == "canceled":
        raise invalid(
            f"The subscription {sub['id']} has been canceled; it has no upcoming invoice.",
            "subscription",
        )
    customer = ctx.store.get("customer", sub["customer"])
    assert customer is not None
    items = ctx.store.children(subscriptions.ITEM, sub["id"])
    priced = []
    for item in items:
        price = ctx.store.get("price", item["price"])
        assert price is not None
        priced.append((item, price, subscriptions.item_period(ctx, sub, price)))
    period = min(p for _, _, p in priced)  # the period whose end triggers the invoice
    invoice = new_invoice(
        ctx,
        customer=customer,
        currency=sub["currency"],
        subscription=sub,
        billing_reason="upcoming",
        period_start=period[0],
        period_end=period[1],
        store=False,
    )
    invoice["id"] = "upcoming_" + invoice["id"]
    invoice["created"] = period[1]
    invoice["automatically_finalizes_at"] = period[1] + 3600
    lines: list[dict[str, Any]] = []
    cancels = sub.get("cancel_at") is not None and sub["cancel_at"] <= period[1]
    for item, price, item_period in priced:
        if item_period != period:
            continue  # another interval: not on this invoice
        recurring = price["recurring"]
        if recurring["usage_type"] == "metered":
            meter = ctx.store.get("billing.meter", recurring["meter"])
            assert meter is not None
            # Classic billing mode: only the usage since the item's price took effect (price
            # changed or item added mid-period; subscriptions.py quotes Stripe's docs).
            start = max(period[0], subscriptions.usage_since(item))
            used = aggregate(ctx.store, meter, sub["customer"], start, period[1], ctx.clock.now())
            rating = billing.rate(price, used)
            line_period = (start, period[1])
            quantity = used
        else:
            if cancels:
                continue
            quantity = Decimal(item["quantity"] or 0)
            rating = billing.rate(price, quantity)
            line_period = (period[1], _next_period_end(sub, price, period[1]))
        lines.append(
            build_line(
                ctx,
                invoice,
                amount=rating.amount,
                description=_describe(ctx, price, quantity),
                period=line_period,
                price=price,
                quantity=int(quantity) if quantity == quantity.to_integral_value() else None,
                quantity_decimal=quantity,
                unit_amount_decimal=None
                if price.get("unit_amount_decimal") is None
                else Decimal(str(price["unit_amount_decimal"])),
                subscription_item=item["id"],
            )
        )
    for pending in invoice_items.pending_for_subscription(ctx, sub["id"]):
        lines.append(build_line(ctx, invoice, **line_from_invoice_item(ctx, pending)))

    discountable = sum(line["amount"] for line in lines if line["discountable"])
    applied = []
    for discount_id in sub.get("discounts") or []:
        discount = ctx.store.get("discount", discount_id)
        coupon = None if discount is None else ctx.store.get("coupon", discount["source"]["coupon"])
        if discount is None or coupon is None or not discounts.applies(discount, coupon, period):
            continue
        applied.append((discount, coupon))
    # Percentages first (billing.discount_amounts keeps this order within each kind): by
    # redemption time, then id.
    applied.sort(key=lambda dc: (dc[0]["start"], dc[0]["id"]))
    amounts = billing.discount_amounts(
        discountable,
        [
            billing.Coupon(d["id"], coupons.percent_off(c), c["amount_off"])
            for d, c in applied
        ],
    )
    total_discount = sum(a for _, a in amounts)
    subtotal = sum(line["amount"] for line in lines)
    invoice["lines"] = {
        "object": "list",
        "data": lines,
        "has_more": False,
        "total_count": len(lines),
        "url": f"/v1/invoices/{invoice['id']}/lines",
    }
    invoice["discounts"] = [d["id"] for d, _ in applied]
    invoice["total_discount_amounts"] = [
        {"amount": a, "discount": discount_id} for discount_id, a in amounts
    ]
    total = subtotal - total_discount
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=total,
        total_excluding_tax=total,
        amount_due=max(total, 0),
        amount_remaining=max(total, 0),
    )
    return invoice


def _next_period_end(sub: dict[str, Any], price: dict[str, Any], period_end: int) -> int:
    from dagster_project.stripe_emulator.periods import period_at

    recurring = price["recurring"]
    return period_at(
        sub["start_date"],
        sub["billing_cycle_anchor"],
        recurring["interval"],
        recurring["interval_count"],
        period_end,
    )[1]


def _describe(ctx: Context, price: dict[str, Any], quantity: Decimal) -> str:
    product = ctx.store.get("product", price["product"]) or {}
    name = price.get("nickname") or product.get("name") or price["id"]
    return f"{quantity.normalize():f} x {name}"


def create_preview(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(("customer", "subscription", "subscription_details", "preview_mode", "currency"))
    sub_id = p.str("subscription", empty_is_none=True)
    if sub_id is None:
        raise StripeError(
            400,
            "The emulator previews subscription invoices only: pass `subscription`.",
            param="subscription",
        )
    subscription = ctx.load("subscription", sub_id, "subscription", "subscription")
    customer_id = p.str("customer", empty_is_none=True)
    if customer_id is not None and customer_id != subscription["customer"]:
        raise invalid(
            f"The subscription {sub_id} does not belong to the customer {customer_id}.",
            "subscription",
        )
    return preview(ctx, subscription)


ROUTES = [
    Route("POST", "/v1/invoices/create_preview", create_preview),
    Route("POST", "/v1/invoices", create),
    Route("GET", "/v1/invoices", list_),
    Route("GET", "/v1/invoices/{id}", retrieve),
    Route("GET", "/v1/invoices/{id}/lines", list_lines),
]
