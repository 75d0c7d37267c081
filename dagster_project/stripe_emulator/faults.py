"""Injected faults (seeded, by rate or queued for the next N requests), real token-bucket rate
limits, and the request journal tests read to see what the client actually sent."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from typing import Any

from dagster_project.stripe_emulator.settings import EmulatorSettings

FAULT_KINDS = (
    "rate_limit", "error_500", "slow", "drop_before", "drop_after_commit", "expire_session"
)


class Roll:
    """One request's fault draws. A fault fires on its random draw or, failing that, by taking one
    from the queue of forced faults, at the moment the pipeline reaches it."""

    def __init__(self, faults: Faults | None, draws: dict[str, bool]) -> None:
        self._faults = faults
        self._draws = draws
        self.fired: list[str] = []

    def fires(self, kind: str) -> bool:
        if self._faults is None:
            return False
        hit = self._draws.get(kind, False) or self._faults.take_next(kind)
        if hit:
            self.fired.append(kind)
        return hit


NO_FAULTS = Roll(None, {})


class Faults:
    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        # Session expiry draws from its own generator: the other kinds' draws (which seeded
        # tests rely on) stay what they were before the stream existed.
        self._session_rng = random.Random(f"expire_session/{seed}")
        self._next: Counter[str] = Counter()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)
            self._session_rng = random.Random(f"expire_session/{seed}")

    def queue(self, counts: dict[str, int]) -> None:
        with self._lock:
            for kind, count in counts.items():
                if kind not in FAULT_KINDS:
                    raise ValueError(
                        f"unknown fault {kind!r}; known faults: {', '.join(FAULT_KINDS)}"
                    )
                self._next[kind] = max(0, int(count))

    def clear_queue(self) -> None:
        with self._lock:
            self._next.clear()

    def queued(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in self._next.items() if v}

    def take_next(self, kind: str) -> bool:
        with self._lock:
            if self._next[kind] > 0:
                self._next[kind] -= 1
                return True
            return False

    def roll(self, path: str, settings: EmulatorSettings) -> Roll:
        prefixes = [p.strip() for p in settings.fault_path_prefix.split(",") if p.strip()]
        if not any(path.startswith(prefix) for prefix in prefixes):
            return NO_FAULTS
        rates = {
            "rate_limit": settings.rate_limit_rate,
            "error_500": settings.error_500_rate,
            "slow": settings.slow_rate,
            "drop_before": settings.drop_before_rate,
            "drop_after_commit": settings.drop_after_commit_rate,
        }
        with self._lock:  # always draw every kind, so one rate does not shift the others
            draws = {kind: self._rng.random() < rate for kind, rate in rates.items()}
            if settings.expire_session_rate > 0:
                draws["expire_session"] = self._session_rng.random() < settings.expire_session_rate
        return Roll(self, draws)


class TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class RateLimits:
    """Requests per second per endpoint class: v1 meter events, stream requests, other reads,
    other writes."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    @staticmethod
    def endpoint_class(method: str, path: str) -> str:
        if path.startswith("/v1/billing/meter_event"):
            return "meter_events"
        if path.startswith("/v2/billing/meter_event_stream"):
            return "meter_event_stream"
        return "read" if method == "GET" else "write"

    def allow(self, method: str, path: str, settings: EmulatorSettings) -> bool:
        cls = self.endpoint_class(method, path)
        rate = {
            "meter_events": settings.rate_limit_meter_events_per_second,
            "meter_event_stream": settings.rate_limit_meter_event_stream_per_second,
            "read": settings.rate_limit_read_per_second,
            "write": settings.rate_limit_write_per_second,
        }[cls]
        if rate <= 0:
            return True
        with self._lock:
            bucket = self._buckets.get(cls)
            if bucket is None or bucket.rate != rate:
                bucket = self._buckets[cls] = TokenBucket(rate)
        return bucket.take()


class Journal:
    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max(1, size))
        self._seq = 0

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append({"seq": self._seq, **entry})

    def entries(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > since]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
