"""Customers: create, retrieve, update, list (email, created), delete."""

from __future__ import annotations

import secrets
from typing import Any

from dagster_project.stripe_emulator.errors import no_such
from dagster_project.stripe_emulator.listing import (
    LIST_PARAMS,
    created_filter,
    list_expand,
    paginate,
)
from dagster_project.stripe_emulator.rendering import render
from dagster_project.stripe_emulator.resources import subscriptions
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import new_id
from dagster_project.stripe_emulator.wire import Params, apply_metadata

KIND = "customer"

_WRITABLE = (
    "address",
    "balance",
    "business_name",
    "cash_balance",
    "description",
    "email",
    "individual_name",
    "invoice_prefix",
    "invoice_settings",
    "metadata",
    "name",
    "next_invoice_sequence",
    "phone",
    "preferred_locales",
    "shipping",
    "tax",
    "tax_exempt",
)
_CREATE_ONLY = ("payment_method", "source", "tax_id_data", "test_clock", "validate")
_UPDATE_ONLY = ("default_source",)


def _apply(customer: dict[str, Any], p: Params) -> None:
    for key in ("email", "name", "description", "phone", "business_name", "individual_name"):
        if key in p:
            customer[key] = p.str(
                key, empty_is_none=True, max_length=512 if key == "email" else 5000
            )
    if "balance" in p:
        customer["balance"] = p.int("balance")
    if "invoice_prefix" in p:
        customer["invoice_prefix"] = p.str("invoice_prefix", empty_is_none=True, max_length=12)
    if "next_invoice_sequence" in p:
        customer["next_invoice_sequence"] = p.int("next_invoice_sequence", minimum=1)
    if "tax_exempt" in p:
        customer["tax_exempt"] = p.enum("tax_exempt", ("none", "exempt", "reverse"))
    if "preferred_locales" in p:
        customer["preferred_locales"] = p.str_list("preferred_locales") or []
    for key in ("address", "shipping"):
        if key in p:
            sub = p.sub(key)
            customer[key] = None if sub is None else dict(sub.data)
    if "invoice_settings" in p:
        sub = p.sub("invoice_settings")
        if sub is not None:
            sub.only(("custom_fields", "default_payment_method", "footer", "rendering_options"))
            settings = customer["invoice_settings"]
            if "footer" in sub:
                settings["footer"] = sub.str("footer", empty_is_none=True)
            if "default_payment_method" in sub:
                settings["default_payment_method"] = sub.str(
                    "default_payment_method", empty_is_none=True
                )
    customer["metadata"] = apply_metadata(customer.get("metadata") or {}, p)


def create(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(_WRITABLE + _CREATE_ONLY)
    customer: dict[str, Any] = {
        "id": new_id("cus_", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ctx.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    _apply(customer, p)
    ctx.store.insert(KIND, customer)
    return render(ctx, KIND, customer, p.expand())


def retrieve(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    customer = ctx.load(KIND, ctx.args["id"], "customer")
    if customer.get("deleted"):
        return {"id": customer["id"], "object": "customer", "deleted": True}
    return render(ctx, KIND, customer, ctx.params.expand())


def update(ctx: Context) -> dict[str, Any]:
    ctx.only(_WRITABLE + _UPDATE_ONLY)
    customer = ctx.load(KIND, ctx.args["id"], "customer")
    if customer.get("deleted"):
        raise no_such("customer", customer["id"])
    _apply(customer, ctx.params)
    ctx.store.save(KIND, customer)
    return render(ctx, KIND, customer, ctx.params.expand())


def delete(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    customer = ctx.load(KIND, ctx.args["id"], "customer")
    if customer.get("deleted"):
        raise no_such("customer", customer["id"])
    customer["deleted"] = True
    ctx.store.save(KIND, customer)
    # Deleting a customer cancels its subscriptions at once, as in Stripe.
    subscriptions.cancel_all_for_customer(ctx, customer["id"])
    return {"id": customer["id"], "object": "customer", "deleted": True}


def list_(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(LIST_PARAMS + ("email", "created", "test_clock"))
    email = p.str("email", max_length=512)
    created = created_filter(p)
    rows = [
        r
        for r in ctx.store.rows(KIND)
        if not r.obj.get("deleted")
        and (email is None or r.obj.get("email") == email)
        and created(r.created)
    ]
    expand = list_expand(p)
    return paginate(ctx, rows, "/v1/customers", lambda o: render(ctx, KIND, o, expand))


ROUTES = [
    Route("POST", "/v1/customers", create),
    Route("GET", "/v1/customers", list_),
    Route("GET", "/v1/customers/{id}", retrieve),
    Route("POST", "/v1/customers/{id}", update),
    Route("DELETE", "/v1/customers/{id}", delete),
]
