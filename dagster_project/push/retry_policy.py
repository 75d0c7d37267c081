"""How the push reads Stripe's errors and waits before trying again (both send paths)."""

from __future__ import annotations

import random

import stripe


def should_retry_header(e: stripe.StripeError) -> str | None:
    """Stripe-Should-Retry as sent ("true"/"false"), or None when absent."""
    for name, value in (e.headers or {}).items():
        if name.lower() == "stripe-should-retry":
            return str(value).lower()
    return None


def describe(e: stripe.StripeError) -> str:
    # Only Stripe's own message and code: never request headers (they carry the key or token).
    return f"{type(e).__name__} {e.http_status} {getattr(e, 'code', None)}: {e.user_message}"


def backoff_seconds(attempt: int, base_seconds: float, cap_seconds: float) -> float:
    """Exponential with jitter, as Stripe asks (it sends no Retry-After)."""
    ceiling = min(cap_seconds, base_seconds * 2 ** (attempt - 1))
    return ceiling * (0.5 + random.random() / 2)
