"""Demo plans: which subscription each sample customer gets, covering every pricing model.

Customers take the plans in turn (acct_0001 -> PLANS[0], acct_0002 -> PLANS[1], ...):

* ``metered``: the original demo plan: the three metered prices of sample_data.METERS
  (sub-cent per-unit requests, graduated tokens with a free tier, per-unit storage).
* ``team``: packages of 100 requests (``transform_quantity`` round up), volume-tiered tokens
  with a flat fee, storage, 3 licensed seats, 10 % off forever; and a second, yearly
  subscription for a platform fee.
* ``yen``: the same meters priced in JPY (a zero-decimal currency), 20 % off for 3 months
  (repeating) and a minimum monthly commitment (a true-up line when usage falls short).
* ``freemium``: a free plan (a $0 licensed price, requests with a free allowance and a usage
  limit) upgraded mid-period to Pro: Stripe prorates the licensed change to the second; $10
  off once and a minimum commitment.

Tollgate's own terms live in Stripe metadata (there is no Stripe object for them):
``tollgate_minimum_commitment`` on a subscription (minor units per period) and
``tollgate_usage_limit`` on a price (units per period).

Subscriptions are backdated to 00:00 UTC ``BACKDATE_DAYS`` days ago (Stripe's
``backdate_start_date``) so the current period holds the days of usage the demo lands.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import stripe

BACKDATE_DAYS = 10


def period_anchor(now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    day = (now - timedelta(days=BACKDATE_DAYS)).date()
    return int(datetime.combine(day, time(0, 0), tzinfo=UTC).timestamp())


def _price(client, products: dict[str, str], lookup_key: str, product: str, **params) -> str:
    found = client.v1.prices.list({"lookup_keys": [lookup_key], "limit": 1}).data
    if found:
        return found[0].id
    if product not in products:
        products[product] = client.v1.products.create({"name": product}).id
    return client.v1.prices.create(
        {"product": products[product], "lookup_key": lookup_key, **params}
    ).id


def _coupon(client, coupon_id: str, **params) -> str:
    try:
        return client.v1.coupons.retrieve(coupon_id).id
    except stripe.InvalidRequestError:
        return client.v1.coupons.create({"id": coupon_id, **params}).id


def _metered(meter_id: str, currency: str = "usd") -> dict[str, Any]:
    return {
        "currency": currency,
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_id},
    }


def plan_names() -> list[str]:
    return ["metered", "team", "yen", "freemium"]


def subscribe(
    client: stripe.StripeClient,
    index: int,
    customer: str,
    meters: dict[str, str],
    default_prices: list[str],
    start: int | None = None,
) -> list[str]:
    """Create customer ``index``'s (1-based) plan; returns its subscription ids."""
    start = start or period_anchor()
    plan = plan_names()[(index - 1) % len(plan_names())]
    products: dict[str, str] = {}
    api, tokens, storage = meters["api_requests"], meters["llm_tokens"], meters["storage_gb_hours"]
    backdated = {"customer": customer, "backdate_start_date": start}
    if plan == "metered":
        sub = client.v1.subscriptions.create(
            {**backdated, "items": [{"price": p} for p in default_prices]}
        )
        return [sub.id]
    if plan == "team":
        items = [
            _price(client, products, "team_requests", "API (packages of 100)", unit_amount=5,
                   transform_quantity={"divide_by": 100, "round": "up"}, **_metered(api)),
            _price(client, products, "team_tokens", "Inference (volume)", billing_scheme="tiered",
                   tiers_mode="volume", tiers=[
                       {"up_to": 50000, "unit_amount_decimal": "0.003"},
                       {"up_to": "inf", "unit_amount_decimal": "0.002", "flat_amount": 500},
                   ], **_metered(tokens)),
            _price(client, products, "team_storage", "Storage", unit_amount_decimal="0.9",
                   **_metered(storage)),
        ]
        seats = _price(client, products, "team_seats", "Team seats", currency="usd",
                       unit_amount=2000, recurring={"interval": "month"})
        platform = _price(client, products, "team_platform_yearly", "Platform fee (yearly)",
                          currency="usd", unit_amount=120000, recurring={"interval": "year"})
        coupon = _coupon(client, "TEAM10", percent_off=10, duration="forever", name="Team 10 %")
        monthly = client.v1.subscriptions.create(
            {**backdated, "items": [*({"price": p} for p in items), {"price": seats, "quantity": 3}],
             "discounts": [{"coupon": coupon}], "metadata": {"tollgate_plan": "team"}}
        )
        yearly = client.v1.subscriptions.create(
            {**backdated, "items": [{"price": platform}], "metadata": {"tollgate_plan": "platform"}}
        )
        return [monthly.id, yearly.id]
    if plan == "yen":
        items = [
            _price(client, products, "yen_requests", "API (JPY)", unit_amount_decimal="0.5",
                   **_metered(api, "jpy")),
            _price(client, products, "yen_tokens", "Inference (JPY)", billing_scheme="tiered",
                   tiers_mode="graduated", tiers=[
                       {"up_to": 10000, "unit_amount": 0},
                       {"up_to": "inf", "unit_amount_decimal": "0.3"},
                   ], **_metered(tokens, "jpy")),
            _price(client, products, "yen_storage", "Storage (JPY)", unit_amount=90,
                   **_metered(storage, "jpy")),
        ]
        coupon = _coupon(client, "WELCOME20", percent_off=20, duration="repeating",
                         duration_in_months=3, name="Welcome 20 % for 3 months")
        sub = client.v1.subscriptions.create(
            {**backdated, "items": [{"price": p} for p in items], "discounts": [{"coupon": coupon}],
             "metadata": {"tollgate_plan": "yen", "tollgate_minimum_commitment": "200000"}}
        )
        return [sub.id]
    # freemium: starts free, upgraded to Pro in the middle of the period
    items = [
        _price(client, products, "free_requests", "API (free allowance)", billing_scheme="tiered",
               tiers_mode="graduated", tiers=[
                   {"up_to": 1000, "unit_amount": 0},
                   {"up_to": "inf", "unit_amount_decimal": "0.1"},
               ], metadata={"tollgate_usage_limit": "5000"}, **_metered(api)),
        default_prices[1],  # graduated tokens with a free first tier
        default_prices[2],
    ]
    free = _price(client, products, "plan_free", "Free plan", currency="usd", unit_amount=0,
                  recurring={"interval": "month"})
    pro = _price(client, products, "plan_pro", "Pro plan", currency="usd", unit_amount=4900,
                 recurring={"interval": "month"})
    coupon = _coupon(client, "UPGRADE10", amount_off=1000, currency="usd", duration="once",
                     name="$10 off the first Pro invoice")
    sub = client.v1.subscriptions.create(
        {**backdated, "items": [*({"price": p} for p in items), {"price": free, "quantity": 1}],
         "metadata": {"tollgate_plan": "freemium", "tollgate_minimum_commitment": "2500"}}
    )
    plan_item = next(i.id for i in sub["items"].data if i.price.id == free)
    client.v1.subscriptions.update(
        sub.id,
        {"items": [{"id": plan_item, "price": pro}], "proration_behavior": "create_prorations",
         "discounts": [{"coupon": coupon}], "metadata": {"tollgate_plan": "pro"}},
    )
    return [sub.id]
