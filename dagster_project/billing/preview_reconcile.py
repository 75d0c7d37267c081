"""Reconcile the warehouse's invoice preview with Stripe's (POST /v1/invoices/create_preview).

For every subscription in ``marts.fct_invoice_preview``, Stripe is asked for the upcoming
invoice and each line is compared, in minor units:

* metered and licensed lines by (line type, price);
* proration lines by the invoice item they come from;
* the discount by its invoice total (``total_discount_amounts``);
* the invoice total, less Tollgate's commitment true-up (a Tollgate term Stripe does not know
  of: it is reported beside the differences, not as one).

Each difference is a row of ``billing.invoice_preview_reconciliation`` (one snapshot per run):
customer, subscription, the line, the warehouse's and Stripe's amounts and the difference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import stripe

DDL = """
create schema if not exists billing;
create table if not exists billing.invoice_preview_reconciliation (
    reconciled_at        timestamp not null,
    run_id               varchar,
    stripe_customer_id   varchar not null,
    subscription_id      varchar not null,
    currency             varchar,
    line_key             varchar not null,   -- metered:<price> | licensed:<price> | proration:<ii> | discount | total
    warehouse_amount     bigint,             -- minor units; null: the line is only in Stripe
    stripe_amount        bigint,             -- minor units; null: the line is only in the warehouse
    difference           bigint not null     -- warehouse - stripe
);
"""


@dataclass(frozen=True)
class LineDifference:
    stripe_customer_id: str
    subscription_id: str
    currency: str
    line_key: str
    warehouse_amount: int | None
    stripe_amount: int | None

    @property
    def difference(self) -> int:
        return (self.warehouse_amount or 0) - (self.stripe_amount or 0)

    def describe(self) -> str:
        return (
            f"{self.stripe_customer_id} {self.subscription_id} {self.line_key}: warehouse "
            f"{self.warehouse_amount} vs Stripe {self.stripe_amount} {self.currency} minor units "
            f"(difference {self.difference:+d})"
        )


@dataclass
class PreviewReconciliation:
    invoices_compared: int = 0
    lines_compared: int = 0
    differences: list[LineDifference] = field(default_factory=list)
    true_ups: dict[str, int] = field(default_factory=dict)  # subscription -> true-up amount


def warehouse_lines(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    rows = con.execute(
        """
        select subscription_id, stripe_customer_id, currency, line_type, price_id, source_id,
               amount, invoice_discount, invoice_total
        from marts.fct_invoice_preview
        order by subscription_id, line_number
        """
    ).fetchall()
    invoices: dict[str, dict] = {}
    for sub, customer, currency, kind, price, source, amount, discount, total in rows:
        inv = invoices.setdefault(
            sub,
            {"customer": customer, "currency": currency, "lines": defaultdict(int),
             "discount": discount, "total": total, "true_up": 0},
        )
        if kind in ("metered", "licensed"):
            inv["lines"][f"{kind}:{price}"] += amount
        elif kind == "proration":
            inv["lines"][f"proration:{source}"] += amount
        elif kind == "commitment_true_up":
            inv["true_up"] += amount
    return invoices


def stripe_lines(invoice) -> dict[str, int]:
    """Line key -> amount of a Stripe invoice (an SDK object; lines read as plain dicts)."""
    lines: dict[str, int] = defaultdict(int)
    data = invoice.to_dict()
    for line in data["lines"]["data"]:
        details = (line.get("parent") or {}).get("subscription_item_details") or {}
        price = ((line.get("pricing") or {}).get("price_details") or {}).get("price")
        if details.get("proration"):
            lines[f"proration:{details.get('invoice_item')}"] += line["amount"]
        else:
            period = line.get("period") or {}
            kind = "metered" if period.get("start") == data["period_start"] else "licensed"
            lines[f"{kind}:{price}"] += line["amount"]
    return lines


def reconcile_previews(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    *,
    run_id: str | None = None,
    now: datetime | None = None,
) -> PreviewReconciliation:
    report = PreviewReconciliation()
    for sub, inv in warehouse_lines(con).items():
        preview = client.v1.invoices.create_preview({"subscription": sub})
        theirs = stripe_lines(preview)
        report.invoices_compared += 1
        report.true_ups[sub] = inv["true_up"]

        compared = [(key, inv["lines"].get(key), theirs.get(key))
                    for key in sorted(set(inv["lines"]) | set(theirs))]
        stripe_discount = sum(d.amount for d in preview.total_discount_amounts or [])
        compared.append(("discount", inv["discount"], stripe_discount))
        compared.append(("total", inv["total"] - inv["true_up"], preview.total))
        for key, ours, stripes in compared:
            report.lines_compared += 1
            if ours != stripes:
                report.differences.append(
                    LineDifference(inv["customer"], sub, inv["currency"], key, ours, stripes)
                )
    _record(con, report.differences, now or datetime.now(UTC), run_id)
    return report


def _record(con, differences: list[LineDifference], now: datetime, run_id: str | None) -> None:
    con.execute(DDL)
    if differences:
        con.executemany(
            "insert into billing.invoice_preview_reconciliation values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (now.replace(tzinfo=None), run_id, d.stripe_customer_id, d.subscription_id,
                 d.currency, d.line_key, d.warehouse_amount, d.stripe_amount, d.difference)
                for d in differences
            ],
        )
