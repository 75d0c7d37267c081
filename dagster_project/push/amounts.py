"""Money at stake for units that differ between the warehouse and Stripe (reports only).

A customer's units are worth what that customer's subscription charges for the meter. Only a
per-unit price gives an exact figure per unit; tiered and packaged prices depend on the whole
period's usage, so they report units without an amount.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import duckdb

# (Stripe customer, meter) -> the price of the customer's one live subscription item on the
# meter, when that price is per unit. Several live items on one meter, tiered or transformed
# prices: no row (not estimated rather than guessed). DECIMAL throughout.
SUBSCRIBED_PER_UNIT_PRICES_SQL = """
    select coverage.stripe_customer_id, coverage.meter_id, meters.event_name as meter_event_name,
           min(prices.currency) as currency,
           min(coalesce(prices.unit_amount_decimal, prices.unit_amount)) as unit_price
    from intermediate.int_subscription_meter_coverage coverage
    join staging.stg_stripe__prices prices on prices.price_id = coverage.price_id
    join staging.stg_stripe__billing_meters meters on meters.meter_id = coverage.meter_id
    where coverage.subscription_ended_at is null
    group by coverage.stripe_customer_id, coverage.meter_id, meters.event_name
    having count(*) = 1
       and bool_and(prices.billing_scheme = 'per_unit' and prices.transform_divide_by is null)
"""

_NEEDED = {
    ("intermediate", "int_subscription_meter_coverage"),
    ("staging", "stg_stripe__prices"),
    ("staging", "stg_stripe__billing_meters"),
}


def subscribed_per_unit_prices(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[str, Decimal]]:
    """(Stripe customer, meter event_name) -> (currency, unit price in minor units)."""
    present = set(
        con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    )
    if not _NEEDED <= present:
        return {}
    rows = con.execute(
        f"select stripe_customer_id, meter_event_name, currency, unit_price from ({SUBSCRIBED_PER_UNIT_PRICES_SQL})"
    ).fetchall()
    return {
        (customer, meter): (currency, Decimal(price))
        for customer, meter, currency, price in rows
        if price is not None
    }


def amount_at_stake(units: Decimal | int, unit_price: Decimal) -> int:
    """Minor units, rounded once, half up (away from zero for negative differences)."""
    return int((Decimal(units) * unit_price).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def at_stake_suffix(amount: int | None, currency: str | None) -> str:
    """', N ccy minor units at stake' for a difference's description; '' when not priced."""
    return f", {amount} {currency} minor units at stake" if amount is not None else ""

