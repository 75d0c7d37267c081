"""Finalized Stripe invoices read against the warehouse: did each metered line bill the usage?

For every metered line of a finalized invoice (status open, paid or uncollectible; drafts can
still take usage in Stripe's grace period, void ones bill nothing), the line's quantity is
compared with the warehouse's desired whole units for the same Stripe customer and meter over
the line's period. The push timestamps each day's units at 00:00 UTC of the usage day, so a
usage day belongs to the period [period_start, period_end) that holds its midnight: the same
rule Stripe applies to the events.

A difference is usage billed wrongly on an invoice that Stripe will not change (late usage goes
on the next one): it is recorded in push.invoice_usage_reconciliation with the units and, where
the line's price is per unit, the amount at stake in its minor units, rounded once, half up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import duckdb

from dagster_project.push.amounts import amount_at_stake, at_stake_suffix

INVOICE_RECONCILIATION_DDL = """
create schema if not exists push;
create table if not exists push.invoice_usage_reconciliation (
    reconciled_at        timestamp not null,
    run_id               varchar,
    invoice_id           varchar not null,
    invoice_line_id      varchar not null,
    stripe_customer_id   varchar not null,
    meter_event_name     varchar not null,
    period_start         timestamp not null,
    period_end           timestamp not null,
    warehouse_units      decimal(38, 12) not null,
    invoiced_units       decimal(38, 12) not null,
    difference_units     decimal(38, 12) not null,  -- warehouse - invoiced: > 0 under-billed
    currency             varchar,
    amount_at_stake      bigint                     -- minor units, per-unit prices only
);
"""

FINALIZED_STATUSES = ("open", "paid", "uncollectible")

_NEEDED = {
    ("staging", "stg_stripe__invoices"),
    ("staging", "stg_stripe__invoice_lines"),
    ("staging", "stg_stripe__prices"),
    ("staging", "stg_stripe__billing_meters"),
    ("marts", "fct_meter_push_input"),
}

_COMPARE_SQL = f"""
with metered_lines as (
    select
        lines.invoice_line_id,
        lines.invoice_id,
        invoices.stripe_customer_id,
        meters.event_name as meter_event_name,
        lines.period_start,
        lines.period_end,
        cast(coalesce(lines.quantity, 0) as decimal(38, 12)) as invoiced_units,
        prices.currency,
        case when prices.billing_scheme = 'per_unit' and prices.transform_divide_by is null
             then coalesce(prices.unit_amount_decimal, cast(prices.unit_amount as decimal(38, 12)))
        end as unit_price
    from staging.stg_stripe__invoice_lines lines
    join staging.stg_stripe__invoices invoices on invoices.invoice_id = lines.invoice_id
    join staging.stg_stripe__prices prices on prices.price_id = lines.price_id
    join staging.stg_stripe__billing_meters meters on meters.meter_id = prices.meter_id
    where invoices.status in {FINALIZED_STATUSES}
)
select
    metered_lines.invoice_id,
    metered_lines.invoice_line_id,
    metered_lines.stripe_customer_id,
    metered_lines.meter_event_name,
    metered_lines.period_start,
    metered_lines.period_end,
    cast(coalesce(sum(push_input.desired_value), 0) as decimal(38, 12)) as warehouse_units,
    metered_lines.invoiced_units,
    metered_lines.currency,
    metered_lines.unit_price
from metered_lines
left join marts.fct_meter_push_input push_input
    on push_input.stripe_customer_id = metered_lines.stripe_customer_id
   and push_input.meter_event_name = metered_lines.meter_event_name
   and cast(push_input.usage_date as timestamp) >= metered_lines.period_start
   and cast(push_input.usage_date as timestamp) < metered_lines.period_end
group by all
order by metered_lines.stripe_customer_id, metered_lines.meter_event_name, metered_lines.period_start
"""


@dataclass(frozen=True)
class InvoicedUsageDifference:
    invoice_id: str
    invoice_line_id: str
    stripe_customer_id: str
    meter_event_name: str
    period_start: datetime
    period_end: datetime
    warehouse_units: Decimal
    invoiced_units: Decimal
    currency: str | None
    amount_at_stake: int | None

    @property
    def difference_units(self) -> Decimal:
        return self.warehouse_units - self.invoiced_units

    def describe(self) -> str:
        amount = at_stake_suffix(self.amount_at_stake, self.currency)
        return (
            f"{self.stripe_customer_id} {self.meter_event_name} {self.period_start:%Y-%m-%d %H:%M}"
            f"..{self.period_end:%Y-%m-%d %H:%M} (invoice {self.invoice_id}): warehouse "
            f"{self.warehouse_units.normalize()} vs invoiced {self.invoiced_units.normalize()} "
            f"(difference {self.difference_units.normalize()}{amount})"
        )


@dataclass
class InvoiceReconciliationReport:
    lines_compared: int
    differences: list[InvoicedUsageDifference]


def reconcile_invoiced_usage(
    con: duckdb.DuckDBPyConnection, *, now: datetime | None = None, run_id: str | None = None
) -> InvoiceReconciliationReport:
    """Compare every metered line of every finalized invoice with the warehouse; record and
    return the differences. No invoices (or no dbt build yet): nothing to compare."""
    con.execute(INVOICE_RECONCILIATION_DDL)
    present = set(con.execute("select table_schema, table_name from information_schema.tables").fetchall())
    if not _NEEDED <= present:
        return InvoiceReconciliationReport(0, [])
    rows = con.execute(_COMPARE_SQL).fetchall()
    differences = []
    for invoice, line, customer, meter, start, end, warehouse, invoiced, currency, unit_price in rows:
        if warehouse == invoiced:
            continue
        amount = amount_at_stake(warehouse - invoiced, unit_price) if unit_price is not None else None
        differences.append(
            InvoicedUsageDifference(
                invoice, line, customer, meter, start, end, warehouse, invoiced,
                currency if amount is not None else None, amount,
            )
        )
    if differences:
        at = (now or datetime.now(UTC)).replace(tzinfo=None)
        con.executemany(
            "insert into push.invoice_usage_reconciliation values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (at, run_id, d.invoice_id, d.invoice_line_id, d.stripe_customer_id, d.meter_event_name,
                 d.period_start, d.period_end, d.warehouse_units, d.invoiced_units, d.difference_units,
                 d.currency, d.amount_at_stake)
                for d in differences
            ],
        )
    return InvoiceReconciliationReport(len(rows), differences)
