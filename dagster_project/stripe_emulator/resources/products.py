"""Products: create, retrieve, update, list (active, created, ids), delete."""

from __future__ import annotations

from typing import Any

from dagster_project.stripe_emulator.errors import StripeError, invalid
from dagster_project.stripe_emulator.listing import (
    LIST_PARAMS,
    created_filter,
    list_expand,
    paginate,
)
from dagster_project.stripe_emulator.rendering import render
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import new_id
from dagster_project.stripe_emulator.wire import Params, apply_metadata

KIND = "product"

_WRITABLE = (
    "active",
    "description",
    "images",
    "marketing_features",
    "metadata",
    "name",
    "package_dimensions",
    "shippable",
    "statement_descriptor",
    "tax_code",
    "unit_label",
    "url",
)


def new_product(ctx: Context, p: Params, product_id: str | None = None) -> dict[str, Any]:
    """A product from create parameters (also used for a price's ``product_data``)."""
    now = ctx.now()
    product: dict[str, Any] = {
        "id": product_id or new_id("prod_", 14),
        "object": "product",
        "active": True,
        "created": now,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": p.str("name", required=True, max_length=5000),
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    _apply(product, p)
    return product


def _apply(product: dict[str, Any], p: Params) -> None:
    if "name" in p:
        product["name"] = p.str("name", required=True, max_length=5000)
    if "active" in p:
        product["active"] = p.bool("active")
    for key in ("description", "statement_descriptor", "tax_code", "unit_label", "url"):
        if key in p:
            product[key] = p.str(key, empty_is_none=True)
    if "shippable" in p:
        product["shippable"] = p.bool("shippable")
    if "images" in p:
        product["images"] = p.str_list("images") or []
    if "marketing_features" in p:
        product["marketing_features"] = [
            {"name": Params(f, f"marketing_features[{i}]").str("name", required=True)}
            for i, f in enumerate(p.list("marketing_features") or [])
        ]
    product["metadata"] = apply_metadata(product.get("metadata") or {}, p)


def create(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(_WRITABLE + ("id", "default_price_data", "tax_details", "type"))
    product_id = p.str("id", max_length=5000)
    if product_id is not None and ctx.store.kind_of(product_id) is not None:
        raise invalid("Product already exists.", "id", code="resource_already_exists")
    product = new_product(ctx, p, product_id)
    ctx.store.insert(KIND, product)
    return render(ctx, KIND, product, p.expand())


def retrieve(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    product = ctx.load(KIND, ctx.args["id"], "product")
    if product.get("deleted"):
        return {"id": product["id"], "object": "product", "deleted": True}
    return render(ctx, KIND, product, ctx.params.expand())


def update(ctx: Context) -> dict[str, Any]:
    ctx.only(_WRITABLE + ("default_price", "tax_details"))
    product = ctx.load(KIND, ctx.args["id"], "product")
    if product.get("deleted"):
        raise StripeError(
            404, f"No such product: '{product['id']}'", code="resource_missing", param="id"
        )
    _apply(product, ctx.params)
    if "default_price" in ctx.params:
        price_id = ctx.params.str("default_price", empty_is_none=True)
        if price_id is not None:
            price = ctx.load("price", price_id, "price", "default_price")
            if price["product"] != product["id"]:
                raise invalid("The price must belong to this product.", "default_price")
        product["default_price"] = price_id
    product["updated"] = ctx.now()
    ctx.store.save(KIND, product)
    return render(ctx, KIND, product, ctx.params.expand())


def delete(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    product = ctx.load(KIND, ctx.args["id"], "product")
    if any(r.obj["product"] == product["id"] for r in ctx.store.rows("price")):
        raise invalid(
            "This product cannot be deleted because it has one or more user-created prices.",
            "id",
        )
    product["deleted"] = True
    ctx.store.save(KIND, product)
    return {"id": product["id"], "object": "product", "deleted": True}


def list_(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(LIST_PARAMS + ("active", "created", "ids", "shippable", "url"))
    active = p.bool("active")
    ids = p.str_list("ids")
    shippable = p.bool("shippable")
    url = p.str("url")
    created = created_filter(p)
    rows = [
        r
        for r in ctx.store.rows(KIND)
        if not r.obj.get("deleted")
        and (active is None or r.obj["active"] == active)
        and (ids is None or r.obj["id"] in ids)
        and (shippable is None or r.obj.get("shippable") == shippable)
        and (url is None or r.obj.get("url") == url)
        and created(r.created)
    ]
    expand = list_expand(p)
    return paginate(ctx, rows, "/v1/products", lambda o: render(ctx, KIND, o, expand))


ROUTES = [
    Route("POST", "/v1/products", create),
    Route("GET", "/v1/products", list_),
    Route("GET", "/v1/products/{id}", retrieve),
    Route("POST", "/v1/products/{id}", update),
    Route("DELETE", "/v1/products/{id}", delete),
]
