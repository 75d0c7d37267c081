"""Push 100,000 customer-meter-day totals into the Stripe emulator under a rate limit.

    .venv/bin/python benchmarks/push_bench.py [--keys 100000] [--api stream|v1]
        [--stream-limit 25] [--stream-rate 20] [--concurrency 4] [--in-process]

The push input (marts.fct_meter_push_input) is written directly: this measures the push, not dbt.
Customers are created through the SDK (the emulator maps meter events to existing customers).

The emulator runs in its own process (`tollgate emulator`), as Stripe would, unless
`--in-process`. Its rate limits are Stripe's test-mode ones: stream requests count toward the
basic limit of 25 requests/s (`--stream-limit`), v1 meter events are limited to `--v1-limit`
calls/s. The push paces itself at `--stream-rate` requests/s and retries 429s. Then a second
push must send nothing, and the emulator must hold exactly one meter event per key, with
exactly the desired value (no duplicates, nothing lost).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import stripe  # noqa: E402

from dagster_project.push.meter_push import PushConfig, push_meter_events  # noqa: E402
from dagster_project.warehouse import connect  # noqa: E402

METERS = ["api_requests", "llm_tokens", "storage_gb_hours"]
EMULATOR_KEY = "sk_test_bench"


@contextmanager
def emulator(work: Path, env_settings: dict[str, str], in_process: bool):
    """The emulator's base URL: in a child process (default) or a thread of this one."""
    if in_process:
        from dagster_project.stripe_emulator.server import EmulatorServer
        from dagster_project.stripe_emulator.settings import EmulatorSettings

        settings = EmulatorSettings.from_env(os.environ | env_settings)
        with EmulatorServer(work / "stripe_emulator", settings=settings).start() as server:
            yield server.url
        return
    env = os.environ | env_settings | {"TOLLGATE_HOME": str(work)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_project.cli", "emulator", "--port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = None
        for line in proc.stdout:  # "Stripe emulator on http://127.0.0.1:PORT (state in ...)"
            if "Stripe emulator on " in line:
                url = line.split(" on ", 1)[1].split(" ", 1)[0]
                break
        if url is None:
            raise RuntimeError("the emulator process did not start")
        # Keep reading its output so a full pipe never blocks it.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def control(url: str, name: str):
    with urllib.request.urlopen(f"{url}/__emulator/{name}", timeout=300) as response:
        return json.loads(response.read())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--days", type=int, default=30, help="usage days per customer and meter (<= 34)")
    p.add_argument("--api", choices=["stream", "v1"], default="stream")
    p.add_argument("--stream-limit", type=float, default=25.0,
                   help="emulator: stream requests/s (Stripe test mode: the basic 25/s limit)")
    p.add_argument("--v1-limit", type=float, default=1000.0, help="emulator: v1 meter events/s")
    p.add_argument("--stream-rate", type=float, default=20.0, help="push: stream requests/s it paces itself to")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--in-process", action="store_true", help="run the emulator in this process")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tollgate-push-bench-"))
    env_settings = {
        "TOLLGATE_EMULATOR_RATE_LIMIT_METER_EVENT_STREAM_PER_SECOND": str(args.stream_limit),
        "TOLLGATE_EMULATOR_RATE_LIMIT_METER_EVENTS_PER_SECOND": str(args.v1_limit),
    }
    customers_needed = -(-args.keys // (len(METERS) * args.days))
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    with emulator(work, env_settings, args.in_process) as url:
        client = stripe.StripeClient(EMULATOR_KEY, base_addresses={"api": url, "meter_events": url},
                                     max_network_retries=2)
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
            frame_rows = [(k, c, m, d, v, "stripe_customer_id", "value") for k, c, m, d, v in rows]
            import pandas as pd

            con.register("bench_rows", pd.DataFrame(frame_rows, columns=[
                "push_key", "stripe_customer_id", "meter_event_name", "usage_date", "desired_value",
                "customer_payload_key", "value_payload_key"]))
            con.execute("insert into marts.fct_meter_push_input select * from bench_rows")
            config = PushConfig(api=args.api, concurrency=args.concurrency,
                                stream_requests_per_second=args.stream_rate)
            t = time.perf_counter()
            first = push_meter_events(con, client, config=config)
            push_s = time.perf_counter() - t
            t = time.perf_counter()
            second = push_meter_events(con, client, config=config)
            second_s = time.perf_counter() - t
            delivered = con.execute("select count(distinct identifier), count(*) from push.meter_event_outcomes "
                                    "where outcome = 'delivered'").fetchone()
        t = time.perf_counter()
        held = control(url, "meter_events")["data"]
        counters = control(url, "meter_event_stream")
        errors = control(url, "meter_event_errors")["data"]
        check_s = time.perf_counter() - t
    identifiers = {e["identifier"] for e in held}
    in_stripe: dict[tuple, Decimal] = defaultdict(Decimal)
    for e in held:
        if e["status"] == "ok":
            ts = e["timestamp"]
            unix = ts if isinstance(ts, int) else int(datetime.fromisoformat(ts).timestamp())
            in_stripe[(e["customer"], e["event_name"], datetime.fromtimestamp(unix, UTC).date())] += Decimal(e["value"])
    desired = {(c, m, d): Decimal(v) for _, c, m, d, v in rows}
    exact = in_stripe == desired
    print(f"keys {len(rows):,}; customers {len(customers):,} created in {setup_s:.1f} s; api {args.api}; "
          f"emulator {'in this process' if args.in_process else 'in its own process'}, limits: stream "
          f"{args.stream_limit:g} requests/s, v1 {args.v1_limit:g} meter events/s; push paced at "
          f"{args.stream_rate:g} stream requests/s, concurrency {args.concurrency}")
    print(f"first push: {push_s:.1f} s, {first.requests:,} requests, {first.sessions_created} sessions, "
          f"{first.rate_limited} rate-limited, delivered {first.delivered:,}, rejected {first.rejected}, "
          f"unresolved {first.unresolved}, units {first.delivered_units:,} of {first.desired_units:,} desired; "
          f"{first.delivered / push_s:,.0f} events/s")
    print(f"second push: {second_s:.1f} s, {second.requests} requests, new intents {second.new_intents}")
    print(f"outcomes delivered: {delivered[0]:,} distinct identifiers in {delivered[1]:,} rows; "
          f"emulator holds {len(held):,} meter events with {len(identifiers):,} distinct identifiers, "
          f"{len(errors)} error reports; stream counters {counters}")
    print(f"Stripe's per customer-meter-day totals {'equal' if exact else 'DIFFER FROM'} the warehouse's "
          f"({len(in_stripe):,} vs {len(desired):,} keys; read back in {check_s:.1f} s): "
          f"{'no duplicates, nothing lost' if exact and len(held) == len(identifiers) == len(rows) else 'MISMATCH'}")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
