"""Sending intents on Stripe's v2 meter event stream: batches of up to 100 events per request,
authenticated by a meter event session token (STRIPE_FACTS.md 1.5).

* The session is created with the secret key and renewed a minute before its lifetime (15
  minutes) runs out, or at once when Stripe answers 401 ``temporary_session_expired``. The token
  lives in memory only: never logged, never written to the push log or metadata.
* Requests are paced client-side (a token bucket) below Stripe's limit, and at most
  ``concurrency`` are in flight. A 429 is retried with jittered exponential backoff unless Stripe
  says ``Stripe-Should-Retry: false``; 5xx and lost connections are retried the same way (the
  SDK first retries them itself under one Idempotency-Key).
* Every retry, in this run or a later one, resends the same event ``identifier``s. Stripe drops an
  identifier it already holds (within 24 hours) without an error, so a batch that reached Stripe
  before its response was lost is never counted twice.
* A 2xx means Stripe accepted the batch for asynchronous validation: each of its events is
  recorded ``delivered`` with the detail ``ACCEPTED_DETAIL``. Whether each one also counted is
  confirmed by the reconciliation read-back of meter event summaries (README, "Exactly once").
* A 400 refuses the whole request for its shape; the batch is split in halves until the refused
  event is alone, so one bad event does not hold back 99 good ones.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import stripe

from dagster_project.push.retry_policy import backoff_seconds, describe, should_retry_header

if TYPE_CHECKING:
    from dagster_project.push.meter_push import Intent, Outcome, PushConfig

ACCEPTED_DETAIL = "accepted by the meter event stream"
STREAM_MAX_EVENTS = 100  # Stripe: "Supports up to 100 events per request"
# Renew this long before the session's lifetime ends, so no request goes out on a token that
# expires in flight.
SESSION_RENEW_MARGIN_SECONDS = 60.0


def stream_timestamp(unix_seconds: int) -> str:
    """v2 takes RFC 3339 date-times."""
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def stream_event(intent: Intent) -> dict:
    return {
        "event_name": intent.meter_event_name,
        "identifier": intent.identifier,
        "timestamp": stream_timestamp(intent.event_timestamp),
        "payload": {
            intent.customer_payload_key: intent.stripe_customer_id,
            intent.value_payload_key: str(intent.value),  # whole units, as text: never a float
        },
    }


@dataclass
class StreamStats:
    requests: int = 0
    sessions_created: int = 0
    sessions_expired: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    split_batches: int = 0


class MeterEventSessions:
    """The current session token, shared by the sending threads; renewed once per expiry."""

    def __init__(self, client: stripe.StripeClient, stats: StreamStats) -> None:
        self._client = client
        self._stats = stats
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0  # time.monotonic() after which the token is renewed before use
        self._generation = 0

    def current(self) -> tuple[str, int]:
        """(token, generation). Creating a session can raise like any Stripe call."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                session = self._client.v2.billing.meter_event_session.create()
                # The lifetime Stripe grants, measured on our own clock: the two clocks may
                # disagree, the length of the session does not.
                lifetime = (
                    datetime.fromisoformat(session.expires_at)
                    - datetime.fromisoformat(session.created)
                ).total_seconds()
                self._token = session.authentication_token
                self._renew_at = time.monotonic() + max(0.0, lifetime - SESSION_RENEW_MARGIN_SECONDS)
                self._generation += 1
                self._stats.sessions_created += 1
            return self._token, self._generation

    def expired(self, generation: int) -> None:
        """Stripe said the token of ``generation`` expired: the next current() renews it, once,
        however many threads saw the 401."""
        with self._lock:
            self._stats.sessions_expired += 1
            if generation == self._generation:
                self._token = None


class RequestPacer:
    """A token bucket on our side: requests leave at most ``rate`` per second (0: unpaced), so the
    push stays under Stripe's limit instead of living on 429s."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.rate <= 0:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                short = (1 - self._tokens) / self.rate
            time.sleep(short)


class StreamSender:
    def __init__(self, client: stripe.StripeClient, config: PushConfig) -> None:
        self.client = client
        self.config = config
        self.stats = StreamStats()
        self.sessions = MeterEventSessions(client, self.stats)
        self.pacer = RequestPacer(config.stream_requests_per_second)
        self._stats_lock = threading.Lock()

    def send(self, batch: list[Intent]) -> list[Outcome]:
        """Outcomes for every intent of ``batch``: delivered, rejected, or None (unresolved)."""
        from dagster_project.push.meter_push import Outcome

        events = [stream_event(i) for i in batch]
        last_status: int | None = None
        last_detail = "not attempted"
        for attempt in range(1, self.config.max_attempts + 1):
            generation = 0
            try:
                token, generation = self.sessions.current()
                self.pacer.wait()
                self._count("requests")
                self.client.v2.billing.meter_event_stream.create(
                    {"events": events}, {"api_key": token}
                )
                return [Outcome(i.identifier, "delivered", 200, ACCEPTED_DETAIL) for i in batch]
            except stripe.TemporarySessionExpiredError as e:
                self.sessions.expired(generation)
                last_status, last_detail = e.http_status, describe(e)
                continue  # a new session, at once: nothing is wrong with the batch
            except stripe.InvalidRequestError as e:
                if len(batch) > 1:
                    self._count("split_batches")
                    half = len(batch) // 2
                    return self.send(batch[:half]) + self.send(batch[half:])
                return [Outcome(batch[0].identifier, "rejected", e.http_status, describe(e))]
            except (stripe.AuthenticationError, stripe.PermissionError, stripe.IdempotencyError) as e:
                return [Outcome(i.identifier, "rejected", e.http_status, describe(e)) for i in batch]
            except stripe.RateLimitError as e:
                self._count("rate_limited")
                last_status, last_detail = e.http_status, describe(e)
                if should_retry_header(e) == "false":
                    break  # Stripe says not now: unresolved, the next run resends them
            except stripe.StripeError as e:  # APIError, APIConnectionError and the like
                status = e.http_status
                if status is not None and 400 <= status < 500 and status not in (409, 429):
                    return [Outcome(i.identifier, "rejected", status, describe(e)) for i in batch]
                self._count("server_errors")
                last_status, last_detail = status, describe(e)
            if attempt < self.config.max_attempts:
                time.sleep(
                    backoff_seconds(
                        attempt, self.config.backoff_base_seconds, self.config.backoff_cap_seconds
                    )
                )
        return [Outcome(i.identifier, None, last_status, last_detail) for i in batch]

    def _count(self, name: str) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)
