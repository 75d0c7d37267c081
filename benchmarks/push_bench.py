"""Push 100,000 customer-meter-day totals into the Stripe emulator under a rate limit.

    .venv/bin/python benchmarks/push_bench.py [--keys 100000] [--rate 1000] [--concurrency 16]

The push input (marts.fct_meter_push_input) is written directly: this measures the push, not dbt.
Customers are created through the SDK (the emulator maps meter events to existing customers).
The emulator enforces `rate` meter events per second (Stripe's v1 limit is 1,000/s in live
mode); the push retries 429s. Then a second push must send nothing, and the emulator must hold
exactly one meter event per key (no duplicates).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import stripe  # noqa: E402

from dagster_project.push.meter_push import PushConfig, push_meter_events  # noqa: E402
from dagster_project.stripe_emulator.server import EmulatorServer  # noqa: E402
from dagster_project.stripe_emulator.settings import EmulatorSettings  # noqa: E402
from dagster_project.warehouse import connect  # noqa: E402

METERS = ["api_requests", "llm_tokens", "storage_gb_hours"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--days", type=int, default=4)
    p.add_argument("--rate", type=float, default=1000.0, help="emulator meter events per second")
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tollgate-push-bench-"))
    settings = EmulatorSettings.from_env(rate_limit_meter_events_per_second=args.rate)
    customers_needed = -(-args.keys // (len(METERS) * args.days))
    with EmulatorServer(work / "stripe", settings=settings).start() as server:
        client = stripe.StripeClient("sk_test_bench", base_addresses={"api": server.url, "meter_events": server.url},
                                     max_network_retries=0)
        t = time.perf_counter()
        for m in METERS:
            client.v1.billing.meters.create({
                "display_name": m, "event_name": m, "default_aggregation": {"formula": "sum"},
                "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
                "value_settings": {"event_payload_key": "value"}})
        customers = [client.v1.customers.create({"metadata": {"customer_id": f"acct_{i:06d}"}}).id
                     for i in range(customers_needed)]
        setup_s = time.perf_counter() - t
        today = datetime.now(UTC).date()
        rows = []
        for c in customers:
            for m in METERS:
                for d in range(1, args.days + 1):
                    if len(rows) < args.keys:
                        day = today - timedelta(days=d)
                        rows.append((f"{c}|{m}|{day}", c, m, day, 1 + (hash((c, m, d)) % 500)))
        with connect(work / "warehouse.duckdb") as con:
            con.execute("create schema marts")
            con.execute("create table marts.fct_meter_push_input (push_key varchar, stripe_customer_id varchar, "
                        "meter_event_name varchar, usage_date date, desired_value bigint, "
                        "customer_payload_key varchar, value_payload_key varchar)")
            con.executemany("insert into marts.fct_meter_push_input values (?, ?, ?, ?, ?, 'stripe_customer_id', 'value')", rows)
            config = PushConfig(concurrency=args.concurrency)
            t = time.perf_counter()
            first = push_meter_events(con, client, config=config)
            push_s = time.perf_counter() - t
            t = time.perf_counter()
            second = push_meter_events(con, client, config=config)
            second_s = time.perf_counter() - t
            delivered = con.execute("select count(distinct identifier), count(*) from push.meter_event_outcomes where outcome = 'delivered'").fetchone()
        held = server.emulator.store.meter_events()
        events = len(held)
        distinct_identifiers = len({e.identifier for e in held})
    print(f"keys {len(rows):,}; customers {len(customers):,} created in {setup_s:.1f} s; "
          f"emulator rate limit {args.rate:g} meter events/s; push concurrency {args.concurrency}")
    print(f"first push: {push_s:.1f} s, {first.calls:,} calls, delivered {first.delivered:,}, "
          f"rejected {first.rejected}, unresolved {first.unresolved}, units {first.delivered_units:,} "
          f"of {first.desired_units:,} desired; {first.delivered / push_s:,.0f} events/s")
    print(f"second push: {second_s:.1f} s, {second.calls} calls, new intents {second.new_intents}")
    print(f"outcomes delivered: {delivered[0]:,} distinct identifiers in {delivered[1]:,} rows; "
          f"emulator holds {events:,} meter events with {distinct_identifiers:,} distinct identifiers "
          f"({'no duplicates' if events == distinct_identifiers == len(rows) else 'MISMATCH'})")


if __name__ == "__main__":
    main()
