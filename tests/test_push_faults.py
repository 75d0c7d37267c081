"""Exactly once under crashes and faults: a real push process is SIGKILLed at many points of a
push of 1,250 meter events and rerun; Stripe must end with exactly the warehouse's totals."""

import os
import random
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from dagster_project.push.meter_push import PushConfig, push_meter_events
from dagster_project.warehouse import connect

CUSTOMERS, DAYS = 50, 25  # 1,250 customer-meter-day totals
TODAY = datetime.now(UTC).date()
METER_EVENTS_PATH = "/v1/billing/meter_events"


@pytest.fixture
def warehouse_totals(home, stripe_sdk):
    """Stripe configured (one meter, 50 customers) and a push input of 1,250 desired totals."""
    meter = stripe_sdk.v1.billing.meters.create(
        {"display_name": "API", "event_name": "api_requests", "default_aggregation": {"formula": "sum"}}
    )
    customers = [stripe_sdk.v1.customers.create({"metadata": {"customer_id": f"c{i}"}}).id for i in range(CUSTOMERS)]
    rng = random.Random(42)
    days = [TODAY - timedelta(days=d) for d in range(DAYS, 0, -1)]
    desired = {(c, d): rng.randint(1, 500) for c in customers for d in days}
    with connect(home.warehouse_path) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            """
            create table marts.fct_meter_push_input (
                push_key varchar, stripe_customer_id varchar, meter_event_name varchar,
                meter_id varchar, usage_date date, desired_value bigint,
                customer_payload_key varchar, value_payload_key varchar)
            """
        )
        con.executemany(
            "insert into marts.fct_meter_push_input values (?, ?, 'api_requests', ?, ?, ?, 'stripe_customer_id', 'value')",
            [(f"{c}|{d}", c, meter.id, d, v) for (c, d), v in desired.items()],
        )
    return meter.id, customers, days, desired


def stripe_per_day(client, meter_id, customers, days):
    start = int(datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC).timestamp())
    end = start + len(days) * 86400
    found = {}
    for c in customers:
        for s in client.v1.billing.meters.event_summaries.list(
            meter_id, {"customer": c, "start_time": start, "end_time": end, "value_grouping_window": "day", "limit": 100}
        ).auto_paging_iter():
            if s.aggregated_value:
                found[(c, datetime.fromtimestamp(s.start_time, UTC).date())] = int(s.aggregated_value)
    return found


class Killer:
    """Wraps the emulator's request handling: SIGKILLs the push process at the n-th meter event
    of a run, either before Stripe records it or after (the response is then never read)."""

    def __init__(self, emulator):
        self.emulator = emulator.emulator
        self.original = self.emulator.handle
        self.emulator.handle = self.handle
        self.lock = threading.Lock()
        self.proc = None
        self.kill_at, self.phase, self.seen = None, None, 0
        self.committed_then_killed = 0

    def arm(self, proc, kill_at, phase):
        with self.lock:
            self.proc, self.kill_at, self.phase, self.seen = proc, kill_at, phase, 0

    def handle(self, request):
        if request.method != "POST" or request.path != METER_EVENTS_PATH:
            return self.original(request)
        with self.lock:
            self.seen += 1
            hit = self.seen == self.kill_at
        if hit and self.phase == "before":
            os.kill(self.proc.pid, signal.SIGKILL)
            return self._dropped()  # never reaches Stripe: the process died first
        response = self.original(request)
        if hit and self.phase == "after":
            os.kill(self.proc.pid, signal.SIGKILL)
            self.committed_then_killed += 1
        return response

    def _dropped(self):
        from dagster_project.stripe_emulator.app import Response

        return Response(status=0, body=b"", headers={}, drop=True)


def push_process(home, emulator, concurrency=4):
    env = os.environ | {"TOLLGATE_HOME": str(home.home), "STRIPE_API_BASE": emulator.url}
    return subprocess.Popen(
        [sys.executable, "-m", "dagster_project.cli", "push", "--concurrency", str(concurrency)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


# (meter event of the run at which the process dies, before or after Stripe records it)
KILL_POINTS = [
    (1, "before"), (1, "after"), (2, "after"), (97, "after"), (211, "before"),
    (333, "after"), (150, "before"), (120, "after"), (64, "after"),
]


def test_sigkill_at_many_points_then_rerun_leaves_stripe_exact(home, emulator, stripe_sdk, warehouse_totals):
    meter_id, customers, days, desired = warehouse_totals
    killer = Killer(emulator)
    for kill_at, phase in KILL_POINTS:
        proc = push_process(home, emulator)
        killer.arm(proc, kill_at, phase)
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, f"not killed at {kill_at} {phase}: {out[-2000:]}"
    killer.arm(None, None, None)
    final = push_process(home, emulator)
    out, _ = final.communicate(timeout=300)
    assert final.returncode == 0, out[-3000:]
    assert killer.committed_then_killed == sum(p == "after" for _, p in KILL_POINTS)

    assert stripe_per_day(stripe_sdk, meter_id, customers, days) == desired
    with connect(home.warehouse_path, read_only=True) as con:
        unresolved = con.execute(
            "select count(*) from push.meter_event_intents i where not exists "
            "(select 1 from push.meter_event_outcomes o where o.identifier = i.identifier)"
        ).fetchone()[0]
        # Crashes never produce a second intent for a key: deltas only come from new usage.
        max_sequence = con.execute("select max(sequence_number) from push.meter_event_intents").fetchone()[0]
    assert (unresolved, max_sequence) == (0, 1)
    rerun = push_process(home, emulator)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0 and "0 new intents, 0 resent" in out, out


def test_high_fault_rates_still_land_exactly_once(home, emulator, stripe_sdk, warehouse_totals):
    meter_id, customers, days, desired = warehouse_totals
    emulator.configure(
        fault_seed=7,
        rate_limit_rate=0.15,  # 429, not stored, SDK does not retry it: our backoff does
        error_500_rate=0.10,  # stored under the key and replayed: needs a new key, same identifier
        drop_after_commit_rate=0.10,  # recorded, response lost: the SDK's retry gets the replay
        slow_rate=0.05,
        slow_seconds=0.05,
    )
    config = PushConfig(max_attempts=8, backoff_base_seconds=0.01, backoff_cap_seconds=0.05, concurrency=8)
    reports = []
    for _ in range(3):  # a rerun finishes what a run left unresolved; no double count either way
        with connect(home.warehouse_path) as con:
            reports.append(push_meter_events(con, stripe_sdk_with_retries(emulator), config=config))
        if reports[-1].unresolved == 0:
            break
    emulator.configure(rate_limit_rate=0.0, error_500_rate=0.0, drop_after_commit_rate=0.0, slow_rate=0.0)
    assert reports[-1].unresolved == 0 and all(r.rejected == 0 for r in reports)
    assert stripe_per_day(stripe_sdk, meter_id, customers, days) == desired
    journal = emulator.journal()
    statuses = defaultdict(int)
    for entry in journal:
        if entry.get("path") == METER_EVENTS_PATH:
            statuses[entry.get("status")] += 1
    assert statuses[429] > 50 and statuses[500] > 50, dict(statuses)  # the faults really happened


def stripe_sdk_with_retries(emulator):
    import stripe

    return stripe.StripeClient(
        "sk_test_tollgate_tests",
        base_addresses={"api": emulator.url, "meter_events": emulator.url},
        max_network_retries=2,
    )
