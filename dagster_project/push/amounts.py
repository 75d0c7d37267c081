"""Money at stake for units that differ between the warehouse and Stripe (reports only).

Only per-unit metered prices give an exact figure per unit; tiered and packaged prices depend
on the whole period's usage, so they report units without an amount.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import duckdb


def per_unit_prices(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, Decimal]]:
    """meter event_name -> (currency, unit price in minor units), from dbt's Stripe staging."""
    present = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'staging' "
        "and table_name in ('stg_stripe__prices', 'stg_stripe__billing_meters')"
    ).fetchone()[0]
    if present < 2:
        return {}
    rows = con.execute(
        """
        select m.event_name, p.currency, coalesce(p.unit_amount_decimal, p.unit_amount)
        from staging.stg_stripe__prices p
        join staging.stg_stripe__billing_meters m on m.meter_id = p.meter_id
        where p.is_active and p.billing_scheme = 'per_unit' and p.transform_divide_by is null
        """
    ).fetchall()
    return {meter: (currency, Decimal(price)) for meter, currency, price in rows if price is not None}


def amount_at_stake(units: Decimal | int, unit_price: Decimal) -> int:
    """Minor units, rounded once, half up (away from zero for negative differences)."""
    return int((Decimal(units) * unit_price).quantize(Decimal(1), rounding=ROUND_HALF_UP))
