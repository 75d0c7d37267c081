"""Revenue leakage: valid usage that cannot be billed yet (no Stripe customer, or no
subscription billing the meter). It is held in marts.fct_usage_held, never dropped; this check
says who, how much, and the estimated amount at stake."""


from dataclasses import dataclass, field

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from dagster_project.observe.redact import redact
from dagster_project.resources import WarehouseResource
from dagster_project.transform.dbt_assets import dbt_asset_key

HELD_USAGE_KEY = dbt_asset_key("fct_usage_held")
MAX_ROWS_SHOWN = 25


@dataclass
class LeakageReport:
    rows: list[tuple] = field(default_factory=list)
    customers: int = 0
    events: int = 0
    estimated_by_currency: dict[str, int] = field(default_factory=dict)
    not_estimated: int = 0  # rows whose amount is not estimated (tiered price...)
    by_reason: dict[str, int] = field(default_factory=dict)  # events per reason


def held_usage(con) -> LeakageReport:
    rows = con.execute(
        """
        select customer_id, coalesce(stripe_customer_id, '-'), meter_event_name, reason,
               quantity, event_count, first_event_at, currency, estimated_amount, estimate_status
        from marts.fct_usage_held
        order by estimated_amount desc nulls last, quantity desc, customer_id, meter_event_name
        """
    ).fetchall()
    report = LeakageReport(rows=rows)
    report.customers = len({r[0] for r in rows})
    for (_, _, _, reason, _, events, _, currency, amount, _) in rows:
        report.events += events
        report.by_reason[reason] = report.by_reason.get(reason, 0) + events
        if amount is None:
            report.not_estimated += 1
        else:
            report.estimated_by_currency[currency] = report.estimated_by_currency.get(currency, 0) + int(amount)
    return report


@asset_check(
    asset=HELD_USAGE_KEY,
    name="revenue_leakage",
    description="Warns while valid usage is held because its customer has no Stripe customer or no "
    "subscription billing the meter; reports the customers, units and estimated amount at stake. "
    "The usage is billed automatically once the mapping appears.",
)
def revenue_leakage(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connection(read_only=True) as con:
        report = held_usage(con)
    header = "| customer | Stripe customer | meter | reason | units | events | since | estimated (minor units) |\n|---|---|---|---|---|---|---|---|"
    lines = [
        f"| {c} | {s} | {m} | {r} | {q.normalize()} | {n} | {first} | "
        f"{f'{amount} {cur}' if amount is not None else status} |"
        for (c, s, m, r, q, n, first, cur, amount, status) in report.rows[:MAX_ROWS_SHOWN]
    ]
    if len(report.rows) > MAX_ROWS_SHOWN:
        lines.append(f"| ... {len(report.rows) - MAX_ROWS_SHOWN} more rows in marts.fct_usage_held |||||||")
    return AssetCheckResult(
        passed=not report.rows,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "customers_held": MetadataValue.int(report.customers),
            "events_held": MetadataValue.int(report.events),
            "events_held_by_reason": MetadataValue.json(report.by_reason),
            "estimated_amount_at_stake_minor_units": MetadataValue.json(report.estimated_by_currency),
            "rows_not_estimated": MetadataValue.int(report.not_estimated),
            "held_usage": MetadataValue.md(redact("\n".join([header, *lines])) if report.rows else "none"),
        },
    )
