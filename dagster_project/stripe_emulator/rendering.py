"""Stored objects -> API responses: per-kind renderers, and ``expand[]`` of id fields."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from dagster_project.stripe_emulator.routing import Context

Renderer = Callable[[Context, dict[str, Any], list[str]], dict[str, Any]]

# id prefix -> stored kind (the object's "object" value)
KIND_BY_PREFIX = {
    "cus_": "customer",
    "prod_": "product",
    "price_": "price",
    "sub_": "subscription",
    "si_": "subscription_item",
    "in_": "invoice",
    "il_": "line_item",
    "mtr_": "billing.meter",
    "di_": "discount",
    "ii_": "invoiceitem",
}

_RENDERERS: dict[str, Renderer] = {}


def renderer(kind: str) -> Callable[[Renderer], Renderer]:
    """Register the function that turns a stored ``kind`` into its API shape."""

    def register(fn: Renderer) -> Renderer:
        _RENDERERS[kind] = fn
        return fn

    return register


def render(
    ctx: Context, kind: str, obj: dict[str, Any], expand: list[str] | None = None
) -> dict[str, Any]:
    expand = expand or []
    fn = _RENDERERS.get(kind)
    out = fn(ctx, copy.deepcopy(obj), expand) if fn else copy.deepcopy(obj)
    for path in expand:
        out = _expand(ctx, out, path.split("."))
    return out


def kind_of_id(object_id: str) -> str | None:
    for prefix, kind in KIND_BY_PREFIX.items():
        if object_id.startswith(prefix):
            return kind
    return None


def _expand(ctx: Context, value: Any, path: list[str]) -> Any:
    if not path:
        return value
    if isinstance(value, list):
        return [_expand(ctx, v, path) for v in value]
    if not isinstance(value, dict):
        return value
    head, rest = path[0], path[1:]
    if head not in value:
        # Fields Stripe only includes on request (price.tiers) come back from the store.
        if value.get("object") == "price" and head == "tiers" and "id" in value:
            stored = ctx.store.get("price", value["id"]) or {}
            value["tiers"] = stored.get("tiers")
        return value
    target = value[head]
    if isinstance(target, str):
        kind = kind_of_id(target)
        stored = ctx.store.get(kind, target) if kind else None
        if stored is not None:
            target = render(ctx, kind, stored, [".".join(rest)] if rest else [])
            value[head] = target
            return value
    value[head] = _expand(ctx, target, rest)
    return value
