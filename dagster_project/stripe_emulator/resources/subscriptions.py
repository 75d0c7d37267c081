"""Subscriptions and their items.

Since the basil API version the billing period lives on each subscription item
(``current_period_start`` / ``current_period_end``), not on the subscription. The emulator works
periods out from the emulator clock, the subscription's ``start_date`` and
``billing_cycle_anchor``, and the item price's recurring interval, so moving the clock moves the
periods. A subscription with ``cancel_at`` in the past reads as canceled.

Metered items in classic billing mode (the only mode the emulator has: ``billing_mode`` is
always ``classic``) bill only the usage reported while their price was on the item. Stripe,
"Manage your usage-based billing setup", Update prices mid-cycle: "On future invoices, we
reflect only usage that occurs after the update ... switch from price A to price B on January
16 ... the invoice includes usage from January 16 to January 31 at price B. Usage from January 1
to January 16 isn't billed"; a metered item added mid-cycle likewise bills from its addition,
and a deleted item's usage is not invoiced. (Flexible billing mode instead invoices the usage
before the change at the old price; not emulated.) Each stored item keeps, as bookkeeping that
is never rendered, ``_usage_since``: when its current price took effect (the subscription's
start, backdated or not, for the items it was created with).
"""

from __future__ import annotations

from typing import Any

from dagster_project.stripe_emulator.errors import StripeError, invalid, missing, no_such
from dagster_project.stripe_emulator.listing import (
    LIST_PARAMS,
    created_filter,
    list_expand,
    paginate,
)
from dagster_project.stripe_emulator.periods import add_intervals, period_at
from dagster_project.stripe_emulator.rendering import render, renderer
from dagster_project.stripe_emulator.resources import discounts, prorations
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import new_id
from dagster_project.stripe_emulator.wire import Params, apply_metadata

KIND = "subscription"
ITEM = "subscription_item"
STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)

_COMMON = (
    "cancel_at_period_end",
    "collection_method",
    "days_until_due",
    "default_payment_method",
    "description",
    "items",
    "metadata",
    "off_session",
    "payment_behavior",
    "proration_behavior",
)
_CREATE = _COMMON + (
    "backdate_start_date",
    "billing_cycle_anchor",
    "currency",
    "customer",
    "discounts",
)
_UPDATE = _COMMON + ("cancel_at", "cancellation_details", "discounts", "proration_date")
PRORATION_BEHAVIORS = ("always_invoice", "create_prorations", "none")
_ITEM_CREATE = ("metadata", "price", "quantity")
_ITEM_UPDATE = _ITEM_CREATE + ("id", "deleted", "clear_usage")


# -- rendering --------------------------------------------------------------------------------------


def item_period(ctx: Context, sub: dict[str, Any], price: dict[str, Any]) -> tuple[int, int]:
    """The item's current billing period (frozen at the end for an ended subscription)."""
    recurring = price["recurring"]
    at = ctx.now()
    if sub.get("ended_at") is not None:
        at = max(sub["start_date"], min(at, sub["ended_at"] - 1))
    return period_at(
        sub["start_date"],
        sub["billing_cycle_anchor"],
        recurring["interval"],
        recurring["interval_count"],
        at,
    )


def plan_from_price(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` view of a recurring price that Stripe still puts on items."""
    recurring = price["recurring"] or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": price["metadata"],
        "meter": recurring.get("meter"),
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": price["tiers_mode"],
        "transform_usage": price["transform_quantity"],
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring.get("usage_type"),
    }


@renderer(ITEM)
def _render_item(ctx: Context, item: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    sub = ctx.store.get(KIND, item["subscription"])
    price = ctx.store.get("price", item["price"])
    assert sub is not None and price is not None
    start, end = item_period(ctx, _refreshed(ctx, sub), price)
    item["current_period_start"] = start
    item["current_period_end"] = end
    item["plan"] = plan_from_price(price)
    item["price"] = render(ctx, "price", price, [])
    item.pop(USAGE_SINCE, None)
    return dict(sorted(item.items()))


@renderer(KIND)
def _render(ctx: Context, sub: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    sub = _refreshed(ctx, sub)
    if "discounts" in expand:
        sub["discounts"] = [
            render(ctx, "discount", d, [])
            for d in (ctx.store.get("discount", i) for i in sub.get("discounts") or [])
            if d is not None
        ]
    items = ctx.store.children(ITEM, sub["id"])
    sub["items"] = {
        "object": "list",
        "data": [render(ctx, ITEM, i, []) for i in items],
        "has_more": False,
        "total_count": len(items),
        "url": f"/v1/subscription_items?subscription={sub['id']}",
    }
    return sub


def _refreshed(ctx: Context, sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription as of the emulator clock: past ``cancel_at`` it has ended."""
    cancel_at = sub.get("cancel_at")
    if sub["status"] != "canceled" and cancel_at is not None and ctx.now() >= cancel_at:
        sub = dict(sub)
        sub["status"] = "canceled"
        sub["ended_at"] = cancel_at
        sub["canceled_at"] = sub.get("canceled_at") or cancel_at
    return sub


# -- validation of items ----------------------------------------------------------------------------


def _item_price(ctx: Context, item: Params, index: int) -> dict[str, Any]:
    price_id = item.str("price")
    if price_id is None:
        raise missing(f"items[{index}][price]")
    price = ctx.load("price", price_id, "price", f"items[{index}][price]")
    if not price["active"]:
        raise invalid(
            f"The price specified ({price_id}) is inactive. This subscription cannot be created "
            "or updated with an inactive price.",
            f"items[{index}][price]",
        )
    if price["type"] != "recurring":
        raise invalid(
            f"The price specified ({price_id}) is set to `type=one_time` but this field only "
            "accepts prices with `type=recurring`.",
            f"items[{index}][price]",
        )
    return price


def _item_quantity(item: Params, price: dict[str, Any], index: int) -> int | None:
    if price["recurring"]["usage_type"] == "metered":
        if "quantity" in item:
            raise invalid(
                "Quantity should not be specified where usage_type is `metered`. Remove quantity "
                f"from `items[{index}]`.",
                f"items[{index}][quantity]",
            )
        return None
    return item.int("quantity", minimum=0, default=1)


USAGE_SINCE = "_usage_since"  # bookkeeping, not part of Stripe's item shape (never rendered)


def usage_since(item: dict[str, Any]) -> int:
    """When the item's current price took effect: metered usage before it is not billed."""
    return int(item.get(USAGE_SINCE, 0))


def _new_item(
    ctx: Context,
    sub_id: str,
    price: dict[str, Any],
    quantity: int | None,
    item: Params,
    *,
    created: int | None = None,
    since: int | None = None,
) -> dict[str, Any]:
    created = ctx.now() if created is None else created
    return {
        "id": new_id("si_", 14),
        "object": "subscription_item",
        USAGE_SINCE: created if since is None else since,
        "billing_thresholds": None,
        "created": created,
        "discounts": [],
        "metadata": apply_metadata({}, item),
        "price": price["id"],
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def _check_currency(currency: str, price: dict[str, Any], param: str) -> None:
    if price["currency"] != currency:
        raise invalid(
            f"The price {price['id']} is in {price['currency']}, but this subscription is in "
            f"{currency}. All prices on a subscription must be in the same currency.",
            param,
        )


# -- handlers -------------------------------------------------------------------------------------


def create(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(_CREATE)
    customer_id = p.str("customer", required=True)
    assert customer_id is not None
    ctx.load("customer", customer_id, "customer", "customer")
    raw_items = p.list("items")
    if not raw_items:
        raise missing("items")

    priced: list[tuple[Params, dict[str, Any], int | None]] = []
    seen: set[str] = set()
    currency = p.str("currency")
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise invalid(f"Invalid object: {raw}", f"items[{i}]")
        item = Params(raw, f"items[{i}]")
        item.only(_ITEM_CREATE, ctx.settings.reject_unknown_params)
        price = _item_price(ctx, item, i)
        if price["id"] in seen:
            raise invalid(
                f"Cannot add multiple subscription items with the same price: {price['id']}.",
                f"items[{i}][price]",
            )
        seen.add(price["id"])
        currency = currency.lower() if currency else price["currency"]
        _check_currency(currency, price, f"items[{i}][price]")
        priced.append((item, price, _item_quantity(item, price, i)))
    assert currency is not None

    now = ctx.now()
    # backdate_start_date: the subscription starts in the past (Stripe's "backdate
    # subscriptions"); without an explicit anchor, periods are anchored on that start.
    start = p.int("backdate_start_date")
    if start is not None and start > now:
        raise invalid("backdate_start_date must be in the past.", "backdate_start_date")
    start = now if start is None else start
    anchor = p.int("billing_cycle_anchor")
    if anchor is None:
        anchor = start
    elif anchor < now:
        raise invalid("billing_cycle_anchor cannot be in the past.", "billing_cycle_anchor")
    else:
        latest = min(
            add_intervals(now, pr["recurring"]["interval"], pr["recurring"]["interval_count"], 1)
            for _, pr, _ in priced
        )
        if anchor > latest:
            raise invalid(
                "billing_cycle_anchor cannot be later than the next natural billing date "
                f"({latest}) for this subscription.",
                "billing_cycle_anchor",
            )

    sub_id = new_id("sub_")
    sub: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": p.enum(
            "collection_method",
            ("charge_automatically", "send_invoice"),
            default="charge_automatically",
        ),
        "created": now,
        "currency": currency,
        "customer": customer_id,
        "days_until_due": p.int("days_until_due", minimum=0),
        "default_payment_method": p.str("default_payment_method", empty_is_none=True),
        "default_source": None,
        "default_tax_rates": [],
        "description": p.str("description", empty_is_none=True, max_length=500),
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "latest_invoice": None,
        "livemode": False,
        "metadata": apply_metadata({}, p),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": start,
        "status": "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }
    if "discounts" in p:
        sub["discounts"] = discounts.attach(ctx, sub, p.list("discounts") or [], currency)
    ctx.store.insert(KIND, sub)
    for item, price, quantity in priced:
        # Created with the subscription: same `created`; usage counts from the subscription's
        # start (a backdated subscription bills the usage recorded since its backdated start).
        new = _new_item(ctx, sub_id, price, quantity, item, created=now, since=start)
        ctx.store.insert(ITEM, new, parent=sub_id)
    if p.bool("cancel_at_period_end"):
        _set_cancel_at_period_end(ctx, sub, True)
        ctx.store.save(KIND, sub)
    return render(ctx, KIND, sub, p.expand())


def _period_end(ctx: Context, sub: dict[str, Any]) -> int:
    ends = []
    for item in ctx.store.children(ITEM, sub["id"]):
        price = ctx.store.get("price", item["price"])
        assert price is not None
        ends.append(item_period(ctx, sub, price)[1])
    return max(ends)


def _set_cancel_at_period_end(ctx: Context, sub: dict[str, Any], flag: bool) -> None:
    sub["cancel_at_period_end"] = flag
    sub["cancel_at"] = _period_end(ctx, sub) if flag else None
    sub["canceled_at"] = ctx.now() if flag else None


def retrieve(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    sub = ctx.load(KIND, ctx.args["id"], "subscription")
    return render(ctx, KIND, sub, ctx.params.expand())


def update(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(_UPDATE)
    sub = _refreshed(ctx, ctx.load(KIND, ctx.args["id"], "subscription"))
    if sub["status"] == "canceled":
        for key in p.data:
            if key not in ("metadata", "cancellation_details", "expand"):
                raise invalid(
                    "A canceled subscription can only update its cancellation_details and "
                    "metadata.",
                    key,
                )
    sub["metadata"] = apply_metadata(sub.get("metadata") or {}, p)
    if "description" in p:
        sub["description"] = p.str("description", empty_is_none=True, max_length=500)
    if "collection_method" in p:
        sub["collection_method"] = p.enum(
            "collection_method", ("charge_automatically", "send_invoice")
        )
    if "days_until_due" in p:
        sub["days_until_due"] = p.int("days_until_due", minimum=0)
    if "default_payment_method" in p:
        sub["default_payment_method"] = p.str("default_payment_method", empty_is_none=True)
    details = p.sub("cancellation_details")
    if details is not None:
        details.only(("comment", "feedback"))
        if "comment" in details:
            sub["cancellation_details"]["comment"] = details.str("comment", empty_is_none=True)
        if "feedback" in details:
            sub["cancellation_details"]["feedback"] = details.str("feedback", empty_is_none=True)
    if "discounts" in p:
        sub["discounts"] = discounts.attach(ctx, sub, p.list("discounts") or [], sub["currency"])
    if "items" in p:
        behavior = p.enum("proration_behavior", PRORATION_BEHAVIORS, default="create_prorations")
        at = p.int("proration_date")
        if at is None:
            at = ctx.now()
        before = _licensed_snapshot(ctx, sub)
        _update_items(ctx, sub, p.list("items") or [])
        if behavior != "none":
            prorations.create(ctx, sub, before, _licensed_snapshot(ctx, sub), at, behavior)
    if "cancel_at_period_end" in p:
        _set_cancel_at_period_end(ctx, sub, bool(p.bool("cancel_at_period_end")))
    if "cancel_at" in p:
        cancel_at = p.int("cancel_at")
        if cancel_at is not None and cancel_at < ctx.now():
            raise invalid("cancel_at cannot be in the past.", "cancel_at")
        sub["cancel_at"] = cancel_at
        sub["cancel_at_period_end"] = False
    ctx.store.save(KIND, sub)
    return render(ctx, KIND, sub, p.expand())


def _licensed_snapshot(
    ctx: Context, sub: dict[str, Any]
) -> dict[str, tuple[dict[str, Any], int, tuple[int, int]]]:
    """item id -> (price, quantity, current period) for the licensed items of a subscription."""
    out = {}
    for item in ctx.store.children(ITEM, sub["id"]):
        price = ctx.store.get("price", item["price"])
        assert price is not None
        if price["recurring"]["usage_type"] == "licensed":
            out[item["id"]] = (price, item["quantity"] or 0, item_period(ctx, sub, price))
    return out


def _update_items(ctx: Context, sub: dict[str, Any], raw_items: list[Any]) -> None:
    existing = {i["id"]: i for i in ctx.store.children(ITEM, sub["id"])}
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise invalid(f"Invalid object: {raw}", f"items[{i}]")
        item = Params(raw, f"items[{i}]")
        item.only(_ITEM_UPDATE, ctx.settings.reject_unknown_params)
        item_id = item.str("id")
        prices_in_use = {x["price"] for x in existing.values() if not x.get("deleted")}
        if item_id is None:
            price = _item_price(ctx, item, i)
            _check_currency(sub["currency"], price, f"items[{i}][price]")
            if price["id"] in prices_in_use:
                raise invalid(
                    f"Cannot add multiple subscription items with the same price: {price['id']}.",
                    f"items[{i}][price]",
                )
            new = _new_item(ctx, sub["id"], price, _item_quantity(item, price, i), item)
            ctx.store.insert(ITEM, new, parent=sub["id"])
            existing[new["id"]] = new
            continue
        current = existing.get(item_id)
        if current is None:
            raise no_such("subscription item", item_id, f"items[{i}][id]")
        if item.bool("deleted"):
            ctx.store.delete(ITEM, item_id)
            del existing[item_id]
            continue
        price = ctx.store.get("price", current["price"])
        assert price is not None
        if "price" in item and item.str("price") != current["price"]:
            price = _item_price(ctx, item, i)
            _check_currency(sub["currency"], price, f"items[{i}][price]")
            current["price"] = price["id"]
            current[USAGE_SINCE] = ctx.now()  # classic mode: earlier usage is not billed
        if "quantity" in item or price["recurring"]["usage_type"] == "metered":
            current["quantity"] = _item_quantity(item, price, i)
        current["metadata"] = apply_metadata(current.get("metadata") or {}, item)
        ctx.store.save(ITEM, current)
    if not existing:
        raise invalid("A subscription must have at least one item.", "items")


def cancel(ctx: Context) -> dict[str, Any]:
    ctx.only(("cancellation_details", "invoice_now", "prorate"))
    sub = _refreshed(ctx, ctx.load(KIND, ctx.args["id"], "subscription"))
    if sub["status"] == "canceled":
        raise StripeError(
            400,
            f"The subscription {sub['id']} has already been canceled.",
            code="resource_missing",
            param="id",
        )
    _end_now(ctx, sub, "cancellation_requested")
    details = ctx.params.sub("cancellation_details")
    if details is not None:
        details.only(("comment", "feedback"))
        sub["cancellation_details"]["comment"] = details.str("comment", empty_is_none=True)
        sub["cancellation_details"]["feedback"] = details.str("feedback", empty_is_none=True)
    ctx.store.save(KIND, sub)
    return render(ctx, KIND, sub, ctx.params.expand())


def _end_now(ctx: Context, sub: dict[str, Any], reason: str) -> None:
    now = ctx.now()
    sub["status"] = "canceled"
    sub["canceled_at"] = now
    sub["ended_at"] = now
    sub["cancel_at_period_end"] = False
    sub["cancellation_details"]["reason"] = reason


def cancel_all_for_customer(ctx: Context, customer_id: str) -> None:
    for row in ctx.store.rows(KIND):
        sub = _refreshed(ctx, row.obj)
        if sub["customer"] == customer_id and sub["status"] != "canceled":
            _end_now(ctx, sub, "cancellation_requested")
            ctx.store.save(KIND, sub)


def list_(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(LIST_PARAMS + ("created", "customer", "price", "status", "collection_method"))
    customer = p.str("customer")
    price = p.str("price")
    status = p.enum("status", STATUSES)
    collection = p.enum("collection_method", ("charge_automatically", "send_invoice"))
    created = created_filter(p)

    def keep(sub: dict[str, Any]) -> bool:
        sub = _refreshed(ctx, sub)
        if status is None and sub["status"] == "canceled":
            return False
        if status not in (None, "all", "ended") and sub["status"] != status:
            return False
        if status == "ended" and sub["status"] not in ("canceled", "incomplete_expired"):
            return False
        if price is not None and all(
            i["price"] != price for i in ctx.store.children(ITEM, sub["id"])
        ):
            return False
        return (customer is None or sub["customer"] == customer) and (
            collection is None or sub["collection_method"] == collection
        )

    rows = [r for r in ctx.store.rows(KIND) if keep(r.obj) and created(r.created)]
    expand = list_expand(p)
    return paginate(ctx, rows, "/v1/subscriptions", lambda o: render(ctx, KIND, o, expand))


def retrieve_item(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    item = ctx.load(ITEM, ctx.args["id"], "subscription item")
    return render(ctx, ITEM, item, ctx.params.expand())


def list_items(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(LIST_PARAMS + ("subscription",))
    sub_id = p.str("subscription", required=True)
    assert sub_id is not None
    ctx.load(KIND, sub_id, "subscription", "subscription")
    rows = ctx.store.rows(ITEM, parent=sub_id)
    expand = list_expand(p)
    return paginate(ctx, rows, "/v1/subscription_items", lambda o: render(ctx, ITEM, o, expand))


ROUTES = [
    Route("POST", "/v1/subscriptions", create),
    Route("GET", "/v1/subscriptions", list_),
    Route("GET", "/v1/subscriptions/{id}", retrieve),
    Route("POST", "/v1/subscriptions/{id}", update),
    Route("DELETE", "/v1/subscriptions/{id}", cancel),
    Route("GET", "/v1/subscription_items", list_items),
    Route("GET", "/v1/subscription_items/{id}", retrieve_item),
]
