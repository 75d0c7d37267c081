"""``raw_finance.*``: the money facts the Stripe emulator has no objects for.

Stripe holds billing credit grants, payments (charges / payment intents), refunds and credit
notes; the project's emulator implements none of them. Rather than grow a second billing engine
inside the emulator, these facts land in four small warehouse tables that an operator (or a
later Stripe extraction) fills. The ledger reads them through dbt sources
(``dbt/models/staging/finance``) exactly like the ``raw_stripe`` snapshots. Credit grants may
also come from the dbt seed ``credit_grants`` (checked into the repository; empty by default).

Customers are named by the platform's key (``customer_id``, Stripe ``metadata.customer_id``),
as usage events are. Amounts are integers in the currency's minor unit.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import duckdb

RAW_FINANCE_DDL = """
create schema if not exists raw_finance;
create table if not exists raw_finance.credit_grants (
    grant_id           varchar primary key,
    customer_id        varchar not null,   -- the platform's key (Stripe metadata.customer_id)
    category           varchar not null,   -- paid | promotional (Stripe's categories)
    amount             bigint not null,    -- minor units
    currency           varchar not null,
    effective_at       timestamp not null, -- usable from (inclusive, UTC)
    expires_at         timestamp,          -- usable until (exclusive); null: never expires
    priority           integer not null default 50,  -- 0 is used first, 100 last (Stripe)
    applicable_meters  varchar,            -- comma-separated meter event names; null: all
    created_at         timestamp not null
);
create table if not exists raw_finance.payments (
    payment_id   varchar primary key,
    customer_id  varchar not null,
    currency     varchar not null,
    amount       bigint not null,          -- minor units received
    paid_at      timestamp not null,
    invoice_id   varchar                   -- the Stripe invoice it pays, when known
);
create table if not exists raw_finance.refunds (
    refund_id    varchar primary key,
    payment_id   varchar not null,
    amount       bigint not null,          -- minor units returned to the customer
    refunded_at  timestamp not null
);
create table if not exists raw_finance.credit_notes (
    credit_note_id  varchar primary key,
    customer_id     varchar not null,
    invoice_id      varchar,
    currency        varchar not null,
    amount          bigint not null,       -- minor units credited against the invoice
    issued_at       timestamp not null,
    reason          varchar
);
"""


def ensure_raw_finance_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(RAW_FINANCE_DDL)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour, 0))


def load_demo_finance_facts(con: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> int:
    """The demo's grants, payments, a refund and a credit note, dated around the demo's days
    (idempotent: keyed rows are inserted once). Returns the rows inserted."""
    ensure_raw_finance_schema(con)
    start = _at(first_day, 0)
    grants = [
        # A $50 promotional grant on every meter for acct_0001, expiring the last demo day.
        ("grant_demo_promo_0001", "acct_0001", "promotional", 5000, "usd", start - timedelta(days=5),
         _at(last_day, 0), 10, None, start - timedelta(days=5)),
        # A $100 prepaid grant for acct_0001 (priority 50): used once the promotion is spent.
        ("grant_demo_paid_0001", "acct_0001", "paid", 10000, "usd", start - timedelta(days=5),
         None, 50, None, start - timedelta(days=6)),
        # Prepaid tokens only for acct_0005, $20.
        ("grant_demo_tokens_0005", "acct_0005", "paid", 2000, "usd", start - timedelta(days=2),
         None, 50, "llm_tokens", start - timedelta(days=2)),
        # A small promotion that expires on the first demo day before any of its use.
        ("grant_demo_expiring_0009", "acct_0009", "promotional", 700, "usd", start - timedelta(days=9),
         start - timedelta(days=8), 0, "storage_gb_hours", start - timedelta(days=9)),
    ]
    payments = [
        ("pay_demo_0002", "acct_0002", "usd", 4000, _at(first_day, 9), None),
        ("pay_demo_0006", "acct_0006", "usd", 1500, _at(last_day, 9), None),
    ]
    refunds = [("re_demo_0002", "pay_demo_0002", 500, _at(last_day, 15))]
    credit_notes = [
        ("cn_demo_0006", "acct_0006", None, "usd", 300, _at(last_day, 16), "service outage goodwill"),
    ]
    inserted = 0
    for table, rows, key in [
        ("credit_grants", grants, "grant_id"),
        ("payments", payments, "payment_id"),
        ("refunds", refunds, "refund_id"),
        ("credit_notes", credit_notes, "credit_note_id"),
    ]:
        for row in rows:
            exists = con.execute(f"select count(*) from raw_finance.{table} where {key} = ?", [row[0]]).fetchone()[0]
            if not exists:
                marks = ", ".join("?" for _ in row)
                con.execute(f"insert into raw_finance.{table} values ({marks})", list(row))
                inserted += 1
    return inserted
