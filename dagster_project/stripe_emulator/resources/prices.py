"""Prices: per-unit and tiered, one-time and recurring (licensed or metered with a meter).

Validated like Stripe: a metered price needs ``recurring[meter]`` of an active meter (since the
basil API version); a tiered price needs ``tiers_mode`` and ``tiers`` ending in ``up_to=inf``; a
per-unit price needs exactly one of ``unit_amount`` and ``unit_amount_decimal``. ``tiers`` appear
in responses only when expanded, as in Stripe.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dagster_project.stripe_emulator.errors import invalid, missing
from dagster_project.stripe_emulator.listing import (
    LIST_PARAMS,
    created_filter,
    list_expand,
    paginate,
)
from dagster_project.stripe_emulator.rendering import render, renderer
from dagster_project.stripe_emulator.resources import products
from dagster_project.stripe_emulator.routing import Context, Route
from dagster_project.stripe_emulator.store import new_id
from dagster_project.stripe_emulator.wire import Params, apply_metadata, decimal_text

KIND = "price"
MAX_INTERVAL_COUNT = {"day": 365, "week": 52, "month": 12, "year": 1}

_CREATE = (
    "active",
    "billing_scheme",
    "currency",
    "currency_options",
    "custom_unit_amount",
    "lookup_key",
    "metadata",
    "nickname",
    "product",
    "product_data",
    "recurring",
    "tax_behavior",
    "tiers",
    "tiers_mode",
    "transfer_lookup_key",
    "transform_quantity",
    "unit_amount",
    "unit_amount_decimal",
)
_UPDATE = (
    "active",
    "currency_options",
    "lookup_key",
    "metadata",
    "nickname",
    "tax_behavior",
    "transfer_lookup_key",
)


@renderer(KIND)
def _render(ctx: Context, price: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    if "tiers" not in expand:
        price.pop("tiers", None)
    return price


def _amount(
    p: Params, int_key: str, decimal_key: str, required_param: str | None
) -> tuple[int | None, str | None]:
    """(integer amount, decimal string) from one of an integer and a decimal-string parameter."""
    if int_key in p and decimal_key in p:
        raise invalid(
            f"You may only specify one of these parameters: {int_key}, {decimal_key}.",
            p.name(int_key),
        )
    if int_key in p:
        amount = p.int(int_key, minimum=0)
        return amount, None if amount is None else str(amount)
    if decimal_key in p:
        number = p.decimal(decimal_key, max_places=12)
        assert number is not None
        if number < 0:
            raise invalid(f"Invalid {p.name(decimal_key)}: must be at least 0", p.name(decimal_key))
        integral = number == number.to_integral_value()
        return (int(number) if integral else None), decimal_text(number)
    if required_param:
        raise missing(p.name(required_param))
    return None, None


def _tiers(p: Params) -> list[dict[str, Any]]:
    raw = p.list("tiers")
    if not raw:
        raise missing("tiers")
    tiers: list[dict[str, Any]] = []
    previous = 0
    for i, item in enumerate(raw):
        t = Params(item if isinstance(item, dict) else {}, f"tiers[{i}]")
        if not isinstance(item, dict):
            raise invalid(f"Invalid object: {item}", f"tiers[{i}]")
        t.only(
            ("up_to", "unit_amount", "unit_amount_decimal", "flat_amount", "flat_amount_decimal")
        )
        up_to_raw = t.str("up_to", required=True)
        last = i == len(raw) - 1
        if up_to_raw == "inf":
            if not last:
                raise invalid("Only the last tier can have up_to=inf.", f"tiers[{i}][up_to]")
            up_to = None
        else:
            up_to = t.int("up_to", minimum=1)
            if last:
                raise invalid("The last tier must have up_to=inf.", f"tiers[{i}][up_to]")
            if up_to is not None and up_to <= previous:
                raise invalid("Tiers must be in ascending order of up_to.", f"tiers[{i}][up_to]")
            previous = up_to or previous
        unit, unit_dec = _amount(t, "unit_amount", "unit_amount_decimal", None)
        flat, flat_dec = _amount(t, "flat_amount", "flat_amount_decimal", None)
        if unit_dec is None and flat_dec is None:
            raise invalid(
                "Each tier needs unit_amount, unit_amount_decimal, flat_amount or flat_amount_decimal.",
                f"tiers[{i}]",
            )
        tiers.append(
            {
                "flat_amount": flat,
                "flat_amount_decimal": flat_dec,
                "unit_amount": unit,
                "unit_amount_decimal": unit_dec,
                "up_to": up_to,
            }
        )
    return tiers


def _recurring(ctx: Context, p: Params) -> dict[str, Any] | None:
    r = p.sub("recurring")
    if r is None:
        return None
    r.only(("interval", "interval_count", "meter", "trial_period_days", "usage_type"))
    interval = r.enum("interval", MAX_INTERVAL_COUNT, required=True)
    assert interval is not None
    count = r.int("interval_count", minimum=1, default=1)
    assert count is not None
    if count > MAX_INTERVAL_COUNT[interval]:
        raise invalid(
            "Invalid recurring[interval_count]: the maximum billing interval is one year "
            "(1 year, 12 months, 52 weeks or 365 days).",
            "recurring[interval_count]",
        )
    usage_type = r.enum("usage_type", ("licensed", "metered"), default="licensed")
    meter_id = r.str("meter", empty_is_none=True)
    if usage_type == "metered":
        if meter_id is None:
            raise missing("recurring[meter]")
        meter = ctx.load("billing.meter", meter_id, "billing meter", "recurring[meter]")
        if meter["status"] != "active":
            raise invalid(
                f"The meter '{meter_id}' is inactive; only active meters can be used on prices.",
                "recurring[meter]",
            )
    elif meter_id is not None:
        raise invalid(
            "recurring[meter] can only be set when recurring[usage_type] is metered.",
            "recurring[meter]",
        )
    return {
        "interval": interval,
        "interval_count": count,
        "meter": meter_id,
        "trial_period_days": r.int("trial_period_days", minimum=0),
        "usage_type": usage_type,
    }


def _claim_lookup_key(ctx: Context, p: Params, price_id: str) -> str | None:
    lookup_key = p.str("lookup_key", empty_is_none=True, max_length=200)
    if lookup_key is None:
        return None
    transfer = p.bool("transfer_lookup_key", default=False)
    for row in ctx.store.rows(KIND):
        other = row.obj
        if other["id"] != price_id and other.get("lookup_key") == lookup_key:
            if not transfer:
                raise invalid(
                    f"A price (`{other['id']}`) already uses that lookup key. Set "
                    "`transfer_lookup_key` to true to move it to this price.",
                    "lookup_key",
                )
            other["lookup_key"] = None
            ctx.store.save(KIND, other)
    return lookup_key


def create(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(_CREATE)
    currency = p.str("currency", required=True)
    assert currency is not None
    if len(currency) != 3 or not currency.isalpha():
        raise invalid(f"Invalid currency: {currency}", "currency")

    if "product" in p and "product_data" in p:
        raise invalid(
            "You may only specify one of these parameters: product, product_data.", "product"
        )
    product_data = p.sub("product_data")
    if product_data is not None:
        product_data.only(
            ("active", "id", "metadata", "name", "statement_descriptor", "tax_code", "unit_label")
        )
        product = None
    else:
        product_id = p.str("product", required=True)
        assert product_id is not None
        product = ctx.load("product", product_id, "product", "product")

    scheme = p.enum("billing_scheme", ("per_unit", "tiered"), default="per_unit")
    recurring = _recurring(ctx, p)
    tiers = None
    tiers_mode = None
    unit_amount: int | None = None
    unit_amount_decimal: str | None = None
    custom = p.sub("custom_unit_amount")
    if scheme == "tiered":
        for key in ("unit_amount", "unit_amount_decimal"):
            if key in p:
                raise invalid(f"{key} cannot be set when billing_scheme=tiered.", key)
        tiers_mode = p.enum("tiers_mode", ("graduated", "volume"))
        if tiers_mode is None:
            raise missing("tiers_mode")
        tiers = _tiers(p)
        if "transform_quantity" in p:
            raise invalid(
                "transform_quantity cannot be used with billing_scheme=tiered.",
                "transform_quantity",
            )
    else:
        for key in ("tiers", "tiers_mode"):
            if key in p:
                raise invalid(f"{key} can only be set when billing_scheme=tiered.", key)
        if custom is None:
            unit_amount, unit_amount_decimal = _amount(
                p, "unit_amount", "unit_amount_decimal", "unit_amount"
            )

    transform = None
    t = p.sub("transform_quantity")
    if t is not None:
        t.only(("divide_by", "round"))
        transform = {
            "divide_by": t.int("divide_by", required=True, minimum=1),
            "round": t.enum("round", ("up", "down"), required=True),
        }

    price_id = new_id("price_")
    if product is None:
        assert product_data is not None
        product = products.new_product(ctx, product_data, product_data.str("id"))
        ctx.store.insert("product", product)

    price: dict[str, Any] = {
        "id": price_id,
        "object": "price",
        "active": p.bool("active", default=True),
        "billing_scheme": scheme,
        "created": ctx.now(),
        "currency": currency.lower(),
        "custom_unit_amount": None
        if custom is None
        else {
            "maximum": custom.int("maximum"),
            "minimum": custom.int("minimum"),
            "preset": custom.int("preset"),
        },
        "livemode": False,
        "lookup_key": _claim_lookup_key(ctx, p, price_id),
        "metadata": apply_metadata({}, p),
        "nickname": p.str("nickname", empty_is_none=True, max_length=5000),
        "product": product["id"],
        "recurring": recurring,
        "tax_behavior": p.enum(
            "tax_behavior", ("inclusive", "exclusive", "unspecified"), default="unspecified"
        ),
        "tiers": tiers,
        "tiers_mode": tiers_mode,
        "transform_quantity": transform,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount_decimal,
    }
    ctx.store.insert(KIND, price)
    return render(ctx, KIND, price, p.expand())


def retrieve(ctx: Context) -> dict[str, Any]:
    ctx.only(())
    price = ctx.load(KIND, ctx.args["id"], "price")
    return render(ctx, KIND, price, ctx.params.expand())


def update(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(_UPDATE)
    price = ctx.load(KIND, ctx.args["id"], "price")
    if "active" in p:
        price["active"] = p.bool("active")
    if "nickname" in p:
        price["nickname"] = p.str("nickname", empty_is_none=True, max_length=5000)
    if "tax_behavior" in p:
        price["tax_behavior"] = p.enum("tax_behavior", ("inclusive", "exclusive", "unspecified"))
    if "lookup_key" in p:
        price["lookup_key"] = _claim_lookup_key(ctx, p, price["id"])
    price["metadata"] = apply_metadata(price.get("metadata") or {}, p)
    ctx.store.save(KIND, price)
    return render(ctx, KIND, price, p.expand())


def list_(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    ctx.only(
        LIST_PARAMS
        + ("active", "created", "currency", "lookup_keys", "product", "recurring", "type")
    )
    active = p.bool("active")
    currency = p.str("currency")
    product = p.str("product")
    price_type = p.enum("type", ("one_time", "recurring"))
    lookup_keys = p.str_list("lookup_keys")
    if lookup_keys is not None and len(lookup_keys) > 10:
        raise invalid("lookup_keys can have at most 10 elements.", "lookup_keys")
    recurring = p.sub("recurring")
    wanted: dict[str, str | None] = {}
    if recurring is not None:
        recurring.only(("interval", "meter", "usage_type"))
        wanted = {
            k: recurring.str(k) for k in ("interval", "meter", "usage_type") if k in recurring
        }
    created = created_filter(p)

    def keep(price: dict[str, Any]) -> bool:
        rec = price.get("recurring") or {}
        return (
            (active is None or price["active"] == active)
            and (currency is None or price["currency"] == currency.lower())
            and (product is None or price["product"] == product)
            and (price_type is None or price["type"] == price_type)
            and (lookup_keys is None or price.get("lookup_key") in lookup_keys)
            and all(rec.get(k) == v for k, v in wanted.items())
            and (not wanted or price.get("recurring") is not None)
        )

    rows = [r for r in ctx.store.rows(KIND) if keep(r.obj) and created(r.created)]
    expand = list_expand(p)
    return paginate(ctx, rows, "/v1/prices", lambda o: render(ctx, KIND, o, expand))


def unit_amount(price: dict[str, Any]) -> Decimal | None:
    """The per-unit amount in minor units, exactly (sub-cent decimals included)."""
    text = price.get("unit_amount_decimal")
    return None if text is None else Decimal(text)


ROUTES = [
    Route("POST", "/v1/prices", create),
    Route("GET", "/v1/prices", list_),
    Route("GET", "/v1/prices/{id}", retrieve),
    Route("POST", "/v1/prices/{id}", update),
]
