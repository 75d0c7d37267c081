"""Which Stripe the pipeline talks to, decided in one place.

* ``STRIPE_API_BASE`` set: that address (the emulator started by ``tollgate emulator`` or a test),
  with ``STRIPE_API_KEY`` or the emulator's test key.
* only ``STRIPE_API_KEY`` set: Stripe itself (test or live mode, as the key says).
* neither: an emulator is started in-process for the duration of the work, on the state kept
  under ``$TOLLGATE_HOME/stripe_emulator`` (so ``dagster dev`` needs no key and no server).

The key is passed to the SDK only; it is never logged or put in metadata.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import stripe

from dagster_project.settings import EMULATOR_API_KEY

DEFAULT_NETWORK_RETRIES = 2


def describe_target() -> str:
    """Where Stripe calls go, safe to print (no key)."""
    base = os.environ.get("STRIPE_API_BASE")
    if base:
        return f"Stripe API at {base}"
    if os.environ.get("STRIPE_API_KEY"):
        return "Stripe (api.stripe.com)"
    return "embedded Stripe emulator"


@contextmanager
def stripe_client(
    emulator_state_dir: Path,
    api_key: str | None = None,
    api_base: str | None = None,
    max_network_retries: int = DEFAULT_NETWORK_RETRIES,
) -> Iterator[stripe.StripeClient]:
    api_key = api_key or os.environ.get("STRIPE_API_KEY") or None
    api_base = api_base or os.environ.get("STRIPE_API_BASE") or None
    if api_base or api_key:
        addresses = {"api": api_base, "meter_events": api_base} if api_base else None
        yield stripe.StripeClient(
            api_key or EMULATOR_API_KEY,
            base_addresses=addresses,
            max_network_retries=max_network_retries,
        )
        return
    from dagster_project.stripe_emulator.server import EmulatorServer

    with EmulatorServer(emulator_state_dir) as server:
        yield stripe.StripeClient(
            EMULATOR_API_KEY,
            base_addresses={"api": server.url, "meter_events": server.url},
            max_network_retries=max_network_retries,
        )
