"""Push the warehouse's desired meter totals to Stripe Billing, exactly once.

The push log (outbox) lives in the warehouse and is append-only:

* ``push.meter_event_intents``: one row per meter event we mean to send, written and committed
  *before* the call. Its ``identifier`` is derived from (push_key, sequence number), so a rerun
  that recomputes the same intent derives the same identifier.
* ``push.meter_event_outcomes``: one row per definitive result, written after the call:
  ``delivered`` (Stripe accepted or holds the event), or ``rejected`` (Stripe refused it for
  good; a failed check reports it).

Two ways to send (``PushConfig.api``):

* ``"stream"`` (the default): Stripe's v2 meter event stream, up to 100 events per request on a
  session token (``stream_sender.py``). Stripe validates stream events asynchronously and drops
  an identifier it already holds without an error, so ``delivered`` means "accepted"; the
  reconciliation read-back of event summaries confirms each one counted.
* ``"v1"``: one ``POST /v1/billing/meter_events`` per event; the identifier is also the
  Idempotency-Key (with a suffix after a 5xx, which Stripe would otherwise replay), and Stripe's
  "an event already exists with identifier" means an earlier attempt got through.

An intent without an outcome is *unresolved*: the call may or may not have reached Stripe. A
rerun resends it with the same identifier and key, so Stripe replays or refuses the duplicate;
it is never sent under a new identifier. That holds only inside Stripe's identifier window
(at least 24 hours): an intent unresolved for longer is settled by reading Stripe back instead
(``stale_intents``), recorded ``delivered`` or ``lost`` (its units re-planned), or held. The delta for a (customer, meter, day) is
``desired - delivered - unresolved``: late usage is pushed as the difference under a new
identifier, and a downward correction as a negative event (Stripe's documented way to correct
over-reported usage).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import pandas as pd
import stripe

from dagster_project.push.amounts import amount_at_stake, subscribed_per_unit_prices
from dagster_project.push.retry_policy import backoff_seconds, describe, should_retry_header
from dagster_project.push.stale_intents import resolve_stale_intents
from dagster_project.push.stream_sender import STREAM_MAX_EVENTS, StreamSender

log = logging.getLogger(__name__)

PUSH_DDL = """
create schema if not exists push;
create table if not exists push.meter_event_intents (
    identifier            varchar primary key,  -- meter event identifier and Idempotency-Key
    push_key              varchar not null,     -- (stripe customer, meter, day) from fct_meter_push_input
    sequence_number       integer not null,     -- 1 for the first push of a key, 2 for its first delta...
    stripe_customer_id    varchar not null,
    meter_event_name      varchar not null,
    usage_date            date not null,
    value                 bigint not null,      -- whole units; negative for a downward correction
    event_timestamp       bigint not null,      -- unix seconds sent to Stripe (00:00 UTC of usage_date)
    customer_payload_key  varchar not null,
    value_payload_key     varchar not null,
    created_at            timestamp not null,
    run_id                varchar
);
create table if not exists push.meter_event_outcomes (
    identifier   varchar not null,
    outcome      varchar not null,  -- delivered | rejected | lost (not in Stripe when read back)
    http_status  integer,
    detail       varchar,
    recorded_at  timestamp not null,
    run_id       varchar
);
-- The outcome that counts for each intent: its latest. Every reader of the push log (the plan,
-- the stale-intent read-back, the conservation checks) takes it from here.
create view if not exists push.meter_event_latest_outcomes as
select identifier, arg_max(outcome, recorded_at) as outcome
from push.meter_event_outcomes
group by identifier;
"""

INTENT_COLUMNS = (
    "identifier", "push_key", "sequence_number", "stripe_customer_id", "meter_event_name",
    "usage_date", "value", "event_timestamp", "customer_payload_key", "value_payload_key",
    "created_at", "run_id",
)
OUTCOME_COLUMNS = ("identifier", "outcome", "http_status", "detail", "recorded_at", "run_id")

# Stripe accepts meter events up to 35 days old; keep a margin so an event is not refused in
# flight. Older deltas are reported (with the units at stake), never sent blindly.
STRIPE_MAX_EVENT_AGE = timedelta(days=35)
WINDOW_SAFETY_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class Intent:
    identifier: str
    push_key: str
    sequence_number: int
    stripe_customer_id: str
    meter_event_name: str
    usage_date: date
    value: int
    event_timestamp: int
    customer_payload_key: str
    value_payload_key: str


@dataclass(frozen=True)
class Outcome:
    identifier: str
    outcome: str | None  # delivered | rejected | lost | None (still unresolved: retry later)
    http_status: int | None
    detail: str


@dataclass
class PushReport:
    desired_units: int = 0
    delivered_units_before: int = 0
    new_intents: int = 0
    resent_unresolved: int = 0
    calls: int = 0
    delivered: int = 0
    already_in_stripe: int = 0
    rejected: int = 0
    unresolved: int = 0
    delivered_units: int = 0
    out_of_window_keys: int = 0
    out_of_window_units: int = 0
    out_of_window_details: list[str] = field(default_factory=list)
    rejected_details: list[str] = field(default_factory=list)
    stale_confirmed: int = 0  # unresolved past the identifier window, found in Stripe
    stale_lost: int = 0  # ... not found in Stripe: re-planned under a new identifier
    stale_held_details: list[str] = field(default_factory=list)  # ... ambiguous: held for a person
    api: str = "stream"
    requests: int = 0  # HTTP requests that carried meter events (stream: up to 100 each)
    sessions_created: int = 0
    sessions_expired: int = 0
    rate_limited: int = 0


SEND_APIS = ("stream", "v1")


@dataclass(frozen=True)
class PushConfig:
    api: str = "stream"  # "stream": v2 meter event stream; "v1": one request per meter event
    max_attempts: int = 5  # per intent (v1) or batch (stream) within one run, on retryable failures
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 8.0
    # v1: parallel (customer, meter) streams, one call at a time per stream (Stripe's v1 rule).
    # stream: batches in flight at once.
    concurrency: int = 4
    outcome_batch: int = 500  # outcomes per push-log write
    batch_size: int = STREAM_MAX_EVENTS  # events per stream request (Stripe allows up to 100)
    # Stream requests per second, paced on our side. In test mode and sandboxes Stripe counts
    # stream calls toward the basic limit of 25/s; 20 leaves room for the rest of the pipeline.
    # Live mode allows 10,000/s: raise it there (0 = unpaced).
    stream_requests_per_second: float = 20.0

    def __post_init__(self) -> None:
        if self.api not in SEND_APIS:
            raise ValueError(f"PushConfig.api must be one of {SEND_APIS}, got {self.api!r}")
        if not 1 <= self.batch_size <= STREAM_MAX_EVENTS:
            raise ValueError(f"PushConfig.batch_size must be 1..{STREAM_MAX_EVENTS}, got {self.batch_size}")


def ensure_push_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(PUSH_DDL)


def meter_event_identifier(push_key: str, sequence_number: int) -> str:
    """Deterministic: the same intent always carries the same identifier (<= 100 chars)."""
    digest = hashlib.sha256(f"{push_key}|{sequence_number}".encode()).hexdigest()[:40]
    return f"tg_{digest}"


def day_start_unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def plan_intents(
    con: duckdb.DuckDBPyConnection, now: datetime, report: PushReport
) -> list[Intent]:
    """New intents for every key whose desired total differs from delivered + unresolved."""
    rows = con.execute(
        """
        with pushed_keys as (
            -- A key the log knows but the push input no longer has wants 0: correct it down.
            select distinct on (push_key)
                push_key, stripe_customer_id, meter_event_name, usage_date, 0 as desired_value,
                customer_payload_key, value_payload_key
            from push.meter_event_intents
            order by push_key, sequence_number desc
        ),
        desired as (
            select push_key, stripe_customer_id, meter_event_name, usage_date, desired_value,
                   customer_payload_key, value_payload_key
            from marts.fct_meter_push_input
            union all
            select * from pushed_keys
            where push_key not in (select push_key from marts.fct_meter_push_input)
        ),
        outcomes as (select * from push.meter_event_latest_outcomes),
        logged as (
            select
                i.push_key,
                max(i.sequence_number) as last_sequence,
                sum(case when o.outcome = 'delivered' then i.value else 0 end) as delivered,
                sum(case when o.outcome is null then i.value else 0 end) as unresolved
            from push.meter_event_intents i left join outcomes o using (identifier)
            group by i.push_key
        )
        select
            d.push_key, d.stripe_customer_id, d.meter_event_name, d.usage_date,
            d.desired_value, coalesce(l.delivered, 0), coalesce(l.unresolved, 0),
            coalesce(l.last_sequence, 0), d.customer_payload_key, d.value_payload_key
        from desired d left join logged l using (push_key)
        order by d.stripe_customer_id, d.meter_event_name, d.usage_date
        """
    ).fetchall()
    oldest_allowed = now - STRIPE_MAX_EVENT_AGE + WINDOW_SAFETY_MARGIN
    prices = subscribed_per_unit_prices(con)
    intents = []
    for (key, customer, meter, day, desired, delivered, unresolved, last_seq, cust_key, value_key) in rows:
        report.desired_units += int(desired)
        report.delivered_units_before += int(delivered)
        delta = int(desired) - int(delivered) - int(unresolved)
        if delta == 0:
            continue
        ts = day_start_unix(day)
        if datetime.fromtimestamp(ts, UTC) < oldest_allowed:
            # Stripe would refuse it: not sent, reported with what it is worth.
            report.out_of_window_keys += 1
            report.out_of_window_units += delta
            currency, unit_price = prices.get((customer, meter), (None, None))
            worth = f", {amount_at_stake(delta, unit_price)} {currency} minor units" if unit_price is not None else ""
            report.out_of_window_details.append(f"{customer} {meter} {day}: {delta} units{worth}")
            continue
        seq = int(last_seq) + 1
        intents.append(
            Intent(
                identifier=meter_event_identifier(key, seq), push_key=key, sequence_number=seq,
                stripe_customer_id=customer, meter_event_name=meter, usage_date=day, value=delta,
                event_timestamp=ts, customer_payload_key=cust_key or "stripe_customer_id",
                value_payload_key=value_key or "value",
            )
        )
    return intents


def unresolved_intents(con: duckdb.DuckDBPyConnection) -> list[Intent]:
    rows = con.execute(
        """
        select i.identifier, i.push_key, i.sequence_number, i.stripe_customer_id,
               i.meter_event_name, i.usage_date, i.value, i.event_timestamp,
               i.customer_payload_key, i.value_payload_key
        from push.meter_event_intents i
        where not exists (select 1 from push.meter_event_outcomes o where o.identifier = i.identifier)
        order by i.created_at, i.identifier
        """
    ).fetchall()
    return [Intent(*r) for r in rows]


def record_intents(con: duckdb.DuckDBPyConnection, intents: list[Intent], run_id: str | None) -> None:
    if not intents:
        return
    now = _utcnow()
    _append(
        con,
        "push.meter_event_intents",
        INTENT_COLUMNS,
        [
            (i.identifier, i.push_key, i.sequence_number, i.stripe_customer_id, i.meter_event_name,
             i.usage_date, i.value, i.event_timestamp, i.customer_payload_key, i.value_payload_key,
             now, run_id)
            for i in intents
        ],
    )


def record_outcomes(con: duckdb.DuckDBPyConnection, outcomes: list[Outcome], run_id: str | None) -> None:
    final = [o for o in outcomes if o.outcome is not None]
    if not final:
        return
    now = _utcnow()
    _append(
        con,
        "push.meter_event_outcomes",
        OUTCOME_COLUMNS,
        [(o.identifier, o.outcome, o.http_status, o.detail, now, run_id) for o in final],
    )


def _append(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """One set-based insert in one transaction (DuckDB's executemany costs ~10 ms a row)."""
    frame = pd.DataFrame(rows, columns=list(columns))
    with con.cursor() as cur:  # its own connection: commits on its own, whatever con has open
        cur.register("outbox_rows", frame)
        cur.execute(f"insert into {table} ({', '.join(columns)}) select {', '.join(columns)} from outbox_rows")


def send_intent(client: stripe.StripeClient, intent: Intent, config: PushConfig) -> Outcome:
    """One meter event, retried on retryable failures with the same identifier and key."""
    params = {
        "event_name": intent.meter_event_name,
        "identifier": intent.identifier,
        "timestamp": intent.event_timestamp,
        "payload": {
            intent.customer_payload_key: intent.stripe_customer_id,
            intent.value_payload_key: str(intent.value),
        },
    }
    last = Outcome(intent.identifier, None, None, "not attempted")
    # Stripe stores a 500 under its Idempotency-Key and replays it, so after a 5xx the next try
    # needs a new key. The identifier stays: if the failed call did record the event, Stripe
    # refuses the copy as a duplicate identifier, which counts as delivered.
    key_generation = 0
    for attempt in range(1, config.max_attempts + 1):
        key = intent.identifier if key_generation == 0 else f"{intent.identifier}-k{key_generation}"
        try:
            client.v1.billing.meter_events.create(params, options={"idempotency_key": key})
            return Outcome(intent.identifier, "delivered", 200, "created")
        except stripe.InvalidRequestError as e:
            if _is_duplicate_identifier(e):
                return Outcome(intent.identifier, "delivered", e.http_status, "already in Stripe")
            return Outcome(intent.identifier, "rejected", e.http_status, describe(e))
        except (stripe.AuthenticationError, stripe.PermissionError, stripe.IdempotencyError) as e:
            return Outcome(intent.identifier, "rejected", e.http_status, describe(e))
        except stripe.RateLimitError as e:
            last = Outcome(intent.identifier, None, e.http_status, describe(e))
            if should_retry_header(e) == "false":
                return last  # Stripe says not now: stays unresolved for the next run
        except (stripe.APIConnectionError, stripe.APIError) as e:
            if e.http_status is not None and 400 <= e.http_status < 500 and e.http_status not in (409, 429):
                return Outcome(intent.identifier, "rejected", e.http_status, describe(e))
            if e.http_status is not None and e.http_status >= 500:
                key_generation += 1
            last = Outcome(intent.identifier, None, e.http_status, describe(e))
        if attempt < config.max_attempts:
            time.sleep(backoff_seconds(attempt, config.backoff_base_seconds, config.backoff_cap_seconds))
    return last


def push_meter_events(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    *,
    run_id: str | None = None,
    now: datetime | None = None,
    config: PushConfig = PushConfig(),
) -> PushReport:
    ensure_push_schema(con)
    now = now or datetime.now(UTC)
    report = PushReport(api=config.api)
    # Intents unresolved for longer than Stripe's identifier window: read back, not resent.
    stale = resolve_stale_intents(con, client, now, run_id)
    report.stale_confirmed, report.stale_lost = stale.confirmed, stale.lost
    report.stale_held_details = stale.held_details
    # Then finish what an earlier (possibly crashed) run started, under the same identifiers.
    resend = [i for i in unresolved_intents(con) if i.identifier not in stale.held_identifiers]
    report.resent_unresolved = len(resend)
    new = plan_intents(con, now, report)
    record_intents(con, new, run_id)  # committed before any call
    report.new_intents = len(new)
    if config.api == "stream":
        outcomes = _send_all_on_stream(con, client, resend + new, config, run_id, report)
    else:
        outcomes = _send_all(con, client, resend + new, config, run_id)
        report.requests = len(outcomes)
    for intent, outcome in outcomes:
        report.calls += 1
        if outcome.outcome == "delivered":
            report.delivered += 1
            report.delivered_units += intent.value
            report.already_in_stripe += outcome.detail == "already in Stripe"
        elif outcome.outcome == "rejected":
            report.rejected += 1
            report.rejected_details.append(
                f"{intent.stripe_customer_id} {intent.meter_event_name} {intent.usage_date}: "
                f"{intent.value} units: {outcome.detail}"
            )
        else:
            report.unresolved += 1
    report.unresolved += len(stale.held_identifiers)
    return report


def _send_all(con, client, intents: list[Intent], config: PushConfig, run_id):
    """v1: one stream per (customer, meter), sent in order; outcomes recorded as they arrive."""
    streams: dict[tuple[str, str], list[Intent]] = defaultdict(list)
    for intent in intents:
        streams[(intent.stripe_customer_id, intent.meter_event_name)].append(intent)

    def run_stream(stream: list[Intent]) -> list[tuple[Intent, Outcome]]:
        return [(i, send_intent(client, i, config)) for i in stream]

    from dagster_project.observe.progress import Progress

    results: list[tuple[Intent, Outcome]] = []
    unrecorded: list[Outcome] = []
    last_flush = time.monotonic()
    progress = Progress("push", len(intents), "meter events", every=500)
    delivered = rejected = 0
    with ThreadPoolExecutor(max_workers=max(1, config.concurrency)) as pool:
        for stream_results in pool.map(run_stream, streams.values()):
            results.extend(stream_results)
            unrecorded.extend(o for _, o in stream_results)
            # Outcomes are written in batches (a DuckDB commit costs milliseconds). One that is
            # lost to a crash leaves its intent unresolved: the rerun resends the same identifier.
            if len(unrecorded) >= config.outcome_batch or time.monotonic() - last_flush >= 2:
                record_outcomes(con, unrecorded, run_id)
                unrecorded, last_flush = [], time.monotonic()
            delivered += sum(o.outcome == "delivered" for _, o in stream_results)
            rejected += sum(o.outcome == "rejected" for _, o in stream_results)
            progress.advance(
                len(stream_results),
                extra=f"{delivered} delivered, {rejected} rejected, {len(results) - delivered - rejected} pending",
            )
    record_outcomes(con, unrecorded, run_id)
    return results


def _send_all_on_stream(
    con, client, intents: list[Intent], config: PushConfig, run_id, report: PushReport
) -> list[tuple[Intent, Outcome]]:
    """Batches of up to ``batch_size`` on the v2 stream, ``concurrency`` in flight; outcomes
    recorded as batches finish."""
    from dagster_project.observe.progress import Progress

    sender = StreamSender(client, config)
    batches = [intents[i : i + config.batch_size] for i in range(0, len(intents), config.batch_size)]
    results: list[tuple[Intent, Outcome]] = []
    unrecorded: list[Outcome] = []
    last_flush = time.monotonic()
    progress = Progress("push", len(intents), "meter events", every=5000)
    delivered = rejected = 0
    with ThreadPoolExecutor(max_workers=max(1, config.concurrency)) as pool:
        futures = {pool.submit(sender.send, batch): batch for batch in batches}
        for future in as_completed(futures):
            batch, outcomes = futures[future], future.result()
            results.extend(zip(batch, outcomes, strict=True))
            unrecorded.extend(outcomes)
            # Outcomes are written in batches (a DuckDB commit costs milliseconds). One that is
            # lost to a crash leaves its intent unresolved: the rerun resends the same
            # identifier, which the stream drops if Stripe already holds it.
            if len(unrecorded) >= config.outcome_batch or time.monotonic() - last_flush >= 2:
                record_outcomes(con, unrecorded, run_id)
                unrecorded, last_flush = [], time.monotonic()
            delivered += sum(o.outcome == "delivered" for o in outcomes)
            rejected += sum(o.outcome == "rejected" for o in outcomes)
            progress.advance(
                len(outcomes),
                extra=f"{delivered} delivered, {rejected} rejected, {len(results) - delivered - rejected} pending",
            )
    record_outcomes(con, unrecorded, run_id)
    stats = sender.stats
    report.requests = stats.requests
    report.sessions_created = stats.sessions_created
    report.sessions_expired = stats.sessions_expired
    report.rate_limited = stats.rate_limited
    return results


def _is_duplicate_identifier(e: stripe.InvalidRequestError) -> bool:
    message = (e.user_message or str(e) or "").lower()
    return "already exists" in message and "identifier" in message


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
