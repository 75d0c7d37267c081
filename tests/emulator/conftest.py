"""Fixtures: an emulator on a temporary state dir (stopped after the test), and real SDK clients."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe

from dagster_project.stripe_emulator.server import EmulatorServer, EmulatorSettings

# The emulator clock stands still at this instant unless a test moves it.
T0 = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())


def make_client(srv: EmulatorServer, retries: int | None = None) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_emulator",
        base_addresses={"api": srv.url, "meter_events": srv.url},
        max_network_retries=retries,
    )


def control(srv: EmulatorServer, method: str, name: str, body: dict | None = None) -> Any:
    """Call an /__emulator/ control endpoint over HTTP."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{srv.url}/__emulator/{name}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "stripe_state"


@pytest.fixture
def server(state_dir: Path) -> Iterator[EmulatorServer]:
    srv = EmulatorServer(state_dir, settings=EmulatorSettings(now=T0)).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server: EmulatorServer) -> stripe.StripeClient:
    return make_client(server)


@pytest.fixture
def customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create({"email": "ops@acme.test", "name": "Acme"})


@pytest.fixture
def meter(client: stripe.StripeClient) -> stripe.billing.Meter:
    return client.v1.billing.meters.create(
        {
            "display_name": "API calls",
            "event_name": "api_calls",
            "default_aggregation": {"formula": "sum"},
        }
    )
