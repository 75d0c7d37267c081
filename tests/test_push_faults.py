"""Exactly once under crashes and faults, on the v2 meter event stream (the default push): a real
push process is SIGKILLed at many points of a push of 1,250 meter events (creating its session,
before and after Stripe records a batch) and rerun; Stripe must end with exactly the
warehouse's totals. Then the same under high rates of 429s, 500s, lost responses, slow
responses and sessions expiring mid-push."""

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
STREAM_PATH = "/v2/billing/meter_event_stream"
SESSION_PATH = "/v2/billing/meter_event_session"


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
    """Wraps the emulator's request handling: SIGKILLs the push process at the n-th request of a
    run to ``path`` (a stream batch, or the session), either before Stripe handles it or after
    (Stripe has recorded it; the response is never read)."""

    def __init__(self, emulator):
        self.emulator = emulator.emulator
        self.original = self.emulator.handle
        self.emulator.handle = self.handle
        self.lock = threading.Lock()
        self.proc = None
        self.path, self.kill_at, self.phase, self.seen = None, None, None, 0
        self.committed_then_killed = 0

    def arm(self, proc, path, kill_at, phase):
        with self.lock:
            self.proc, self.path, self.kill_at, self.phase, self.seen = proc, path, kill_at, phase, 0

    def handle(self, request):
        if request.method != "POST" or request.path != self.path:
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


def push_process(home, emulator, concurrency=4, batch_size=100):
    env = os.environ | {"TOLLGATE_HOME": str(home.home), "STRIPE_API_BASE": emulator.url}
    return subprocess.Popen(
        [sys.executable, "-m", "dagster_project.cli", "push", "--concurrency", str(concurrency),
         "--batch-size", str(batch_size)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


# (request of the run at which the process dies, to which path, before or after Stripe handles
# it, events per stream request). Full batches of 100 first (13 requests a run), then batches of
# 5 so the kills land at many more points of the push. Each run resolves at most the requests
# before its kill, so every kill point below is reached whatever the outcome flushes did.
KILL_POINTS = [
    (1, SESSION_PATH, "before", 100), (1, SESSION_PATH, "after", 100),
    (1, STREAM_PATH, "before", 100), (1, STREAM_PATH, "after", 100), (3, STREAM_PATH, "after", 100),
    (30, STREAM_PATH, "after", 5), (41, STREAM_PATH, "before", 5), (17, STREAM_PATH, "after", 5),
    (25, STREAM_PATH, "after", 5), (9, STREAM_PATH, "after", 5),
]


def test_sigkill_at_many_points_then_rerun_leaves_stripe_exact(home, emulator, stripe_sdk, warehouse_totals):
    meter_id, customers, days, desired = warehouse_totals
    killer = Killer(emulator)
    for kill_at, path, phase, batch_size in KILL_POINTS:
        proc = push_process(home, emulator, batch_size=batch_size)
        killer.arm(proc, path, kill_at, phase)
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, f"not killed at {kill_at} {path} {phase}: {out[-2000:]}"
    killer.arm(None, None, None, None)
    final = push_process(home, emulator)
    out, _ = final.communicate(timeout=300)
    assert final.returncode == 0, out[-3000:]
    assert killer.committed_then_killed == sum(p == "after" for _, _, p, _ in KILL_POINTS)
    # Batches Stripe recorded before a kill were sent again by the next run: the stream dropped
    # those identifiers instead of counting them twice.
    assert emulator.stream_counters()["stream_duplicate_identifiers_ignored"] > 0
    assert {e.api for e in emulator.emulator.store.meter_events()} == {"stream"}

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
        error_500_rate=0.10,  # the SDK retries under the same key, then our backoff: same identifiers
        drop_after_commit_rate=0.10,  # recorded, response lost: the resend is dropped as a duplicate
        slow_rate=0.05,
        slow_seconds=0.05,
        expire_session_rate=0.05,  # 401 temporary_session_expired: a new session, same batch
    )
    # Batches of 10 give 125 stream requests a run, so the rates above fire many times.
    config = PushConfig(max_attempts=8, backoff_base_seconds=0.01, backoff_cap_seconds=0.05,
                        concurrency=8, batch_size=10, stream_requests_per_second=0)
    reports = []
    for _ in range(3):  # a rerun finishes what a run left unresolved; no double count either way
        with connect(home.warehouse_path) as con:
            reports.append(push_meter_events(con, stripe_sdk_with_retries(emulator), config=config))
        if reports[-1].unresolved == 0:
            break
    emulator.configure(rate_limit_rate=0.0, error_500_rate=0.0, drop_after_commit_rate=0.0, slow_rate=0.0,
                       expire_session_rate=0.0)
    assert reports[-1].unresolved == 0 and all(r.rejected == 0 for r in reports)
    assert stripe_per_day(stripe_sdk, meter_id, customers, days) == desired
    statuses = defaultdict(int)
    for entry in emulator.journal():
        if entry.get("path") == STREAM_PATH:
            statuses[entry.get("status")] += 1
    dropped = sum(e.get("dropped", False) for e in emulator.journal() if e.get("path") == STREAM_PATH)
    # The faults really happened.
    assert statuses[429] > 10 and statuses[500] > 10 and statuses[401] > 0 and dropped > 5, dict(statuses)
    assert sum(r.sessions_created for r in reports) > len(reports)  # renewed after expiry
    assert emulator.stream_counters()["stream_duplicate_identifiers_ignored"] > 0


def stripe_sdk_with_retries(emulator):
    import stripe

    return stripe.StripeClient(
        "sk_test_tollgate_tests",
        base_addresses={"api": emulator.url, "meter_events": emulator.url},
        max_network_retries=2,
    )
