"""Reconciliation: read usage back from Stripe and compare it with the warehouse.

For every (Stripe customer, meter) the warehouse has desired totals for, the meter event
summaries are read per UTC day (``value_grouping_window=day``) over the days Stripe still
accepts corrections for, and compared with ``fct_meter_push_input.desired_value``. Each
difference is a row of ``push.usage_reconciliation`` (one snapshot per run) naming the customer,
meter, day, the units at stake and, where the customer's subscription prices the meter per
unit, the amount at stake in that price's minor units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import duckdb
import stripe

from dagster_project.push.amounts import (
    amount_at_stake,
    at_stake_suffix,
    subscribed_per_unit_prices,
)
from dagster_project.push.meter_push import STRIPE_MAX_EVENT_AGE

RECONCILIATION_DDL = """
create schema if not exists push;
create table if not exists push.usage_reconciliation (
    reconciled_at        timestamp not null,
    run_id               varchar,
    stripe_customer_id   varchar not null,
    meter_event_name     varchar not null,
    usage_date           date not null,
    warehouse_units      decimal(38, 12) not null,
    stripe_units         decimal(38, 12) not null,
    difference_units     decimal(38, 12) not null,  -- warehouse - stripe: > 0 under-billed
    currency             varchar,
    amount_at_stake      bigint                     -- minor units, per-unit prices only
);
"""


@dataclass(frozen=True)
class Difference:
    stripe_customer_id: str
    meter_event_name: str
    usage_date: date
    warehouse_units: Decimal
    stripe_units: Decimal
    currency: str | None
    amount_at_stake: int | None

    @property
    def difference_units(self) -> Decimal:
        return self.warehouse_units - self.stripe_units

    def describe(self) -> str:
        amount = at_stake_suffix(self.amount_at_stake, self.currency)
        return (
            f"{self.stripe_customer_id} {self.meter_event_name} {self.usage_date}: warehouse "
            f"{self.warehouse_units.normalize()} vs Stripe {self.stripe_units.normalize()} "
            f"(difference {self.difference_units.normalize()}{amount})"
        )


@dataclass
class ReconciliationReport:
    first_day: date | None
    last_day: date | None
    pairs_checked: int
    days_compared: int
    differences: list[Difference]


def _unix(day: date) -> int:
    return int(datetime.combine(day, time(0, 0), tzinfo=UTC).timestamp())


def stripe_daily_values(
    client: stripe.StripeClient, meter_id: str, customer: str, first: date, last: date
) -> dict[date, Decimal]:
    summaries = client.v1.billing.meters.event_summaries.list(
        meter_id,
        {
            "customer": customer,
            "start_time": _unix(first),
            "end_time": _unix(last + timedelta(days=1)),
            "value_grouping_window": "day",
            "limit": 100,
        },
    )
    values: dict[date, Decimal] = {}
    for s in summaries.auto_paging_iter():
        day = datetime.fromtimestamp(s.start_time, UTC).date()
        # Summaries are JSON numbers; str() keeps the digits Stripe sent.
        values[day] = values.get(day, Decimal(0)) + Decimal(str(s.aggregated_value))
    return values


def reconcile_usage(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    *,
    now: datetime | None = None,
    run_id: str | None = None,
) -> ReconciliationReport:
    now = now or datetime.now(UTC)
    from dagster_project.push.meter_push import ensure_push_schema

    ensure_push_schema(con)
    first_allowed = (now - STRIPE_MAX_EVENT_AGE).date() + timedelta(days=1)
    desired = con.execute(
        """
        with wanted as (
            select stripe_customer_id, meter_event_name, usage_date, desired_value
            from marts.fct_meter_push_input
            union all
            -- Keys pushed before but gone from the push input: Stripe should now hold 0.
            select distinct stripe_customer_id, meter_event_name, usage_date, 0
            from push.meter_event_intents
            where (stripe_customer_id, meter_event_name, usage_date) not in (
                select (stripe_customer_id, meter_event_name, usage_date) from marts.fct_meter_push_input
            )
        )
        select w.stripe_customer_id, w.meter_event_name, m.meter_id, w.usage_date, w.desired_value
        from wanted w
        join staging.stg_stripe__billing_meters m on m.event_name = w.meter_event_name
        where w.usage_date >= ?
        order by 1, 2, 4
        """,
        [first_allowed],
    ).fetchall()
    prices = subscribed_per_unit_prices(con)
    by_pair: dict[tuple[str, str, str], dict[date, Decimal]] = {}
    for customer, meter, meter_id, day, value in desired:
        by_pair.setdefault((customer, meter, meter_id), {})[day] = Decimal(value)
    differences: list[Difference] = []
    days_compared = 0
    if by_pair:
        first = min(min(days) for days in by_pair.values())
        last = max(max(days) for days in by_pair.values())
    else:
        first = last = None
    for (customer, meter, meter_id), wanted in by_pair.items():
        in_stripe = stripe_daily_values(client, meter_id, customer, first, last)
        for day in sorted(set(wanted) | set(in_stripe)):
            days_compared += 1
            w, s = wanted.get(day, Decimal(0)), in_stripe.get(day, Decimal(0))
            if w != s:
                currency, unit_price = prices.get((customer, meter), (None, None))
                amount = None
                if unit_price is not None:
                    amount = amount_at_stake(w - s, unit_price)
                differences.append(Difference(customer, meter, day, w, s, currency, amount))
    _record(con, differences, now, run_id)
    return ReconciliationReport(first, last, len(by_pair), days_compared, differences)


def _record(con: duckdb.DuckDBPyConnection, differences: list[Difference], now: datetime, run_id: str | None) -> None:
    con.execute(RECONCILIATION_DDL)
    if not differences:
        return
    at = now.replace(tzinfo=None)
    con.executemany(
        "insert into push.usage_reconciliation values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (at, run_id, d.stripe_customer_id, d.meter_event_name, d.usage_date, d.warehouse_units,
             d.stripe_units, d.difference_units, d.currency, d.amount_at_stake)
            for d in differences
        ],
    )
