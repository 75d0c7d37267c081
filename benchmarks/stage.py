"""One benchmark stage in its own process, so its peak memory (max RSS) is its own.

    python -m benchmarks.stage floor <parquet>
    python -m benchmarks.stage ingest <home> <landing day>
    python -m benchmarks.stage setup <home> <customers>
Prints one JSON line with what the stage produced.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import duckdb

FLOOR_SQL = """
with events as (
    select * from read_parquet(?, hive_partitioning = false)
),
deduped as (
    select * from events qualify row_number() over (partition by event_id) = 1
)
select customer_id, meter, cast(cast("timestamp" as timestamptz) as date) as usage_date,
       sum(try_cast(quantity as decimal(38, 12))) as quantity, count(*) as events
from deduped
where try_cast(quantity as decimal(38, 12)) >= 0 and try_cast("timestamp" as timestamptz) is not null
group by all
"""


def floor(parquet: str) -> dict:
    con = duckdb.connect()
    limit = os.environ.get("TOLLGATE_DUCKDB_MEMORY_LIMIT")
    if limit:
        con.execute(f"set memory_limit = '{limit}'")
    con.execute("set TimeZone = 'UTC'")
    rows = con.execute(f"create table result as {FLOOR_SQL}", [parquet]).fetchall()
    del rows
    return {"groups": con.execute("select count(*) from result").fetchone()[0]}


def ingest(home: str, day: str) -> dict:
    from dagster_project.ingest.landing import ingest_day
    from dagster_project.warehouse import connect

    with connect(Path(home) / "warehouse.duckdb") as con:
        result = ingest_day(con, Path(home) / "landing" / "usage", date.fromisoformat(day))
    return {"files": result.files_loaded, "lines": result.lines_loaded}


def setup(home: str, customers: str) -> dict:
    from benchmarks.generate import METERS, customer_key
    from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema
    from dagster_project.warehouse import connect, ensure_raw_schema

    n = int(customers)
    with connect(Path(home) / "warehouse.duckdb") as con:
        ensure_raw_schema(con)
        ensure_raw_stripe_schema(con)
        con.executemany(
            "insert into raw_stripe.customers (id, metadata_customer_id) values (?, ?)",
            [(f"cus_{i:06d}", customer_key(i)) for i in range(1, n + 1)],
        )
        con.executemany(
            "insert into raw_stripe.billing_meters (id, event_name, status, customer_payload_key, "
            "value_payload_key) values (?, ?, 'active', 'stripe_customer_id', 'value')",
            [(f"mtr_{m}", str(m)) for m in METERS],
        )
        # Usage without a subscription billing its meter is held (no_subscription): every
        # customer subscribes to one per-unit price per meter, so the benchmark's events are
        # accepted and flow through the aggregate and the push input. Set-based: DuckDB's
        # executemany costs milliseconds a row.
        con.executemany(
            "insert into raw_stripe.prices (id, recurring_meter, billing_scheme, unit_amount_decimal, "
            "currency, active) values (?, ?, 'per_unit', '0.5', 'usd', true)",
            [(f"price_{m}", f"mtr_{m}") for m in METERS],
        )
        con.execute(
            "insert into raw_stripe.subscriptions (id, customer, status) "
            "select printf('sub_%06d', i), printf('cus_%06d', i), 'active' from range(1, ? + 1) t(i)",
            [n],
        )
        con.execute(
            "insert into raw_stripe.subscription_items (id, subscription, price) "
            "select printf('si_%06d_%s', i, m), printf('sub_%06d', i), 'price_' || m "
            "from range(1, ? + 1) t(i), unnest(?) u(m)",
            [n, [str(m) for m in METERS]],
        )
    return {"customers": n, "meters": len(METERS)}


def gen(folder: str, day: str, events: str, customers: str, ndjson: str) -> dict:
    from benchmarks.generate import generate

    g = generate(Path(folder), date.fromisoformat(day), int(events), customers=int(customers),
                 ndjson=ndjson == "1")
    return {"parquet": str(g.parquet), "ndjson_gz": str(g.ndjson_gz), "lines": g.lines}


if __name__ == "__main__":
    stage, *args = sys.argv[1:]
    started = time.perf_counter()
    out = {"floor": floor, "ingest": ingest, "setup": setup, "generate": gen}[stage](*args)
    out["seconds"] = time.perf_counter() - started
    print(json.dumps(out))
