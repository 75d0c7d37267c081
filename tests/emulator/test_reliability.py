"""Idempotency, injected faults, restarts, concurrency and the HTTP details the SDK relies on."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
from pathlib import Path

import pytest
import requests
import stripe

from dagster_project.stripe_emulator.server import EmulatorServer, EmulatorSettings
from tests.emulator.conftest import T0, control, make_client

DAY = 86400


def usage(client: stripe.StripeClient, meter: str, customer: str) -> float:
    page = client.v1.billing.meters.event_summaries.list(
        meter, {"customer": customer, "start_time": T0 - DAY, "end_time": T0 + 60}
    )
    return page.data[0].aggregated_value


def event(customer: str, value: str = "3", identifier: str = "evt-1") -> dict:
    return {
        "event_name": "api_calls",
        "identifier": identifier,
        "timestamp": T0 - 10,
        "payload": {"stripe_customer_id": customer, "value": value},
    }


def test_idempotent_replay_returns_the_stored_response(
    server: EmulatorServer,
    client: stripe.StripeClient,
    customer: stripe.Customer,
    meter: stripe.billing.Meter,
) -> None:
    options = {"idempotency_key": "push-1"}
    first = client.v1.billing.meter_events.create(event(customer.id), options)
    again = client.v1.billing.meter_events.create(event(customer.id), options)
    assert again.to_dict() == first.to_dict()
    assert usage(client, meter.id, customer.id) == 3
    replays = [e for e in server.journal() if e["idempotency_key"] == "push-1"]
    assert [e["replayed"] for e in replays] == [False, True]

    c1 = client.v1.customers.create({"email": "k@x.test"}, {"idempotency_key": "cus-key"})
    c2 = client.v1.customers.create({"email": "k@x.test"}, {"idempotency_key": "cus-key"})
    assert c1.id == c2.id
    assert len(client.v1.customers.list({"email": "k@x.test"}).data) == 1


def test_replay_headers_over_raw_http(server: EmulatorServer) -> None:
    headers = {"Authorization": "Bearer sk_test_raw", "Idempotency-Key": "raw-1"}
    with requests.Session() as session:
        first = session.post(
            f"{server.url}/v1/customers", data={"email": "r@x.test"}, headers=headers
        )
        second = session.post(
            f"{server.url}/v1/customers", data={"email": "r@x.test"}, headers=headers
        )
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Original-Request"] == first.headers["Request-Id"]
    assert second.headers["Request-Id"].startswith("req_")
    assert "Idempotent-Replayed" not in first.headers


def test_idempotency_key_with_other_params_is_an_idempotency_error(
    client: stripe.StripeClient, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    client.v1.billing.meter_events.create(event(customer.id), {"idempotency_key": "k"})
    with pytest.raises(stripe.IdempotencyError) as err:
        client.v1.billing.meter_events.create(
            event(customer.id, value="4"), {"idempotency_key": "k"}
        )
    assert err.value.http_status == 400
    assert "same parameters" in str(err.value.user_message)
    assert usage(client, meter.id, customer.id) == 3


def test_validation_errors_are_not_stored_under_the_key(
    client: stripe.StripeClient, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    bad = event(customer.id, value="not-a-number")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing.meter_events.create(bad, {"idempotency_key": "v"})
    # The same key can now carry a corrected request.
    client.v1.billing.meter_events.create(event(customer.id), {"idempotency_key": "v"})
    assert usage(client, meter.id, customer.id) == 3


def test_idempotency_keys_expire_after_24_hours(
    server: EmulatorServer, client: stripe.StripeClient
) -> None:
    first = client.v1.customers.create({"email": "t@x.test"}, {"idempotency_key": "ttl"})
    control(server, "POST", "clock", {"advance_seconds": DAY + 1})
    later = client.v1.customers.create({"email": "t@x.test"}, {"idempotency_key": "ttl"})
    assert later.id != first.id


def test_state_survives_a_restart(state_dir: Path) -> None:
    settings = EmulatorSettings(now=T0)
    with EmulatorServer(state_dir, settings=settings) as srv:
        client = make_client(srv)
        customer = client.v1.customers.create({"email": "p@x.test", "metadata": {"a": "1"}})
        meter = client.v1.billing.meters.create(
            {
                "display_name": "API",
                "event_name": "api_calls",
                "default_aggregation": {"formula": "sum"},
            }
        )
        first = client.v1.billing.meter_events.create(
            event(customer.id, "6"), {"idempotency_key": "persist"}
        )
    assert (state_dir / "stripe_emulator.sqlite3").exists()

    with EmulatorServer(state_dir, settings=settings) as srv:
        client = make_client(srv)
        assert client.v1.customers.retrieve(customer.id).metadata["a"] == "1"
        assert client.v1.billing.meters.retrieve(meter.id).event_name == "api_calls"
        assert usage(client, meter.id, customer.id) == 6
        replay = client.v1.billing.meter_events.create(
            event(customer.id, "6"), {"idempotency_key": "persist"}
        )
        assert replay.to_dict() == first.to_dict()
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.billing.meter_events.create(event(customer.id, "6"))
        assert "already exists" in str(err.value.user_message)
        assert usage(client, meter.id, customer.id) == 6


def test_lost_response_is_retried_with_the_same_key_and_counted_once(
    server: EmulatorServer, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    server.configure(drop_after_commit_rate=1.0)
    retrying = make_client(server, retries=2)
    created = retrying.v1.billing.meter_events.create(event(customer.id, "5"))
    assert created.identifier == "evt-1"
    server.reset_faults()
    assert usage(make_client(server), meter.id, customer.id) == 5

    sends = [e for e in server.journal() if e["path"] == "/v1/billing/meter_events"]
    assert [(e["dropped"], e["replayed"]) for e in sends] == [(True, False), (False, True)]
    assert sends[0]["idempotency_key"] == sends[1]["idempotency_key"]


def test_lost_response_without_retries_surfaces_as_connection_error(
    server: EmulatorServer,
    client: stripe.StripeClient,
    customer: stripe.Customer,
    meter: stripe.billing.Meter,
) -> None:
    server.queue_faults(drop_after_commit=1)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.billing.meter_events.create(event(customer.id, "5"))
    # It did land: a resend under a new key hits the identifier check, not a second count.
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meter_events.create(event(customer.id, "5"))
    assert err.value.code == "duplicate_meter_event"
    assert usage(client, meter.id, customer.id) == 5


def test_429_is_not_retried_by_the_sdk(
    server: EmulatorServer, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    server.configure(rate_limit_rate=1.0)
    with pytest.raises(stripe.RateLimitError) as err:
        make_client(server, retries=2).v1.billing.meter_events.create(event(customer.id))
    assert err.value.http_status == 429
    assert err.value.headers["Stripe-Rate-Limited-Reason"] == "endpoint-rate"
    assert "Stripe-Should-Retry" not in err.value.headers
    attempts = [e for e in server.journal() if e["path"] == "/v1/billing/meter_events"]
    assert [(e["status"], e["fault"]) for e in attempts] == [(429, "rate_limit")]
    # Other routes are untouched by the fault.
    assert make_client(server).v1.customers.retrieve(customer.id).id == customer.id
    server.reset_faults()
    assert usage(make_client(server), meter.id, customer.id) == 0


def test_429_with_should_retry_header_is_retried(
    server: EmulatorServer, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    server.configure(rate_limit_should_retry=True)
    server.queue_faults(rate_limit=1)
    make_client(server, retries=1).v1.billing.meter_events.create(event(customer.id))
    statuses = [e["status"] for e in server.journal() if e["path"] == "/v1/billing/meter_events"]
    assert statuses == [429, 200]


def test_injected_500_is_stored_and_replayed(
    server: EmulatorServer, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    server.queue_faults(error_500=1)
    with pytest.raises(stripe.APIError) as err:
        make_client(server, retries=1).v1.billing.meter_events.create(event(customer.id))
    assert err.value.http_status == 500
    attempts = [e for e in server.journal() if e["path"] == "/v1/billing/meter_events"]
    assert [(e["status"], e["replayed"]) for e in attempts] == [(500, False), (500, True)]
    assert attempts[0]["idempotency_key"] == attempts[1]["idempotency_key"]
    # Nothing was recorded; a new key with the same identifier goes through.
    client = make_client(server)
    client.v1.billing.meter_events.create(event(customer.id))
    assert usage(client, meter.id, customer.id) == 3


def test_faults_are_seeded_and_limited_to_the_path_prefix(server: EmulatorServer) -> None:
    def pattern() -> list[int]:
        control(server, "POST", "faults", {"reset": True, "error_500_rate": 0.5, "fault_seed": 7})
        client = make_client(server)
        out = []
        for i in range(12):
            try:
                client.v1.billing.meter_events.create(
                    {
                        "event_name": "x",
                        "identifier": f"s{len(server.journal())}-{i}",
                        "payload": {"value": "1"},
                    }
                )
                out.append(200)
            except stripe.APIError:
                out.append(500)
        return out

    first, second = pattern(), pattern()
    assert first == second
    assert 500 in first and 200 in first
    state = control(server, "GET", "faults")
    assert state["settings"]["error_500_rate"] == 0.5
    assert make_client(server).v1.customers.list().data == []  # not under the prefix


def test_slow_responses_and_in_flight_key_conflict(
    server: EmulatorServer, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    # Every matching request sleeps before committing; a second request with the same key
    # arriving meanwhile is told the key is in use (409), which the SDK would retry.
    server.configure(slow_rate=1.0, slow_seconds=0.6, slow_phase="before_commit")
    headers = {"Authorization": "Bearer sk_test_raw", "Idempotency-Key": "slow-1"}
    body = {
        "event_name": "api_calls",
        "identifier": "slow",
        "timestamp": str(T0),
        "payload[stripe_customer_id]": customer.id,
        "payload[value]": "2",
    }
    url = f"{server.url}/v1/billing/meter_events"
    responses: list[requests.Response] = []

    def send() -> None:
        responses.append(requests.post(url, data=body, headers=headers, timeout=5))

    threads = [threading.Thread(target=send) for _ in range(2)]
    started = time.monotonic()
    threads[0].start()
    time.sleep(0.05)
    threads[1].start()
    for t in threads:
        t.join()
    assert time.monotonic() - started >= 0.6
    assert sorted(r.status_code for r in responses) == [200, 409]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.json()["error"]["code"] == "idempotency_key_in_use"
    server.reset_faults()
    replay = requests.post(url, data=body, headers=headers, timeout=5)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert usage(make_client(server), meter.id, customer.id) == 2


def test_token_bucket_rate_limit(server: EmulatorServer, customer: stripe.Customer) -> None:
    server.configure(rate_limit_read_per_second=1)
    client = make_client(server)
    outcomes = []
    for _ in range(5):
        try:
            client.v1.customers.retrieve(customer.id)
            outcomes.append("ok")
        except stripe.RateLimitError:
            outcomes.append("429")
    assert outcomes[0] == "ok"
    assert "429" in outcomes[1:]


def test_concurrent_clients_are_safe(
    server: EmulatorServer, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    client = make_client(server)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                client.v1.billing.meter_events.create(event(customer.id, "1", f"w{n}-{i}"))
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert usage(client, meter.id, customer.id) == 90


def test_auth_is_required(server: EmulatorServer) -> None:
    missing = requests.get(f"{server.url}/v1/customers")
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    live = stripe.StripeClient("sk_live_nope", base_addresses={"api": server.url})
    with pytest.raises(stripe.AuthenticationError):
        live.v1.customers.list()
    restricted = stripe.StripeClient("rk_test_ok", base_addresses={"api": server.url})
    assert restricted.v1.customers.list().data == []


def test_http_keep_alive_and_headers(server: EmulatorServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for _ in range(2):  # two requests on one connection
        conn.request("GET", "/v1/customers?limit=1", headers={"Authorization": "Bearer sk_test_a"})
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200
        assert response.getheader("Content-Type") == "application/json"
        assert int(response.getheader("Content-Length")) == len(body)
        assert response.getheader("Request-Id").startswith("req_")
        assert json.loads(body)["object"] == "list"
    conn.request("GET", "/v1/nothing", headers={"Authorization": "Bearer sk_test_a"})
    response = conn.getresponse()
    assert response.status == 404
    assert "Unrecognized request URL" in json.loads(response.read())["error"]["message"]
    conn.close()


def test_control_endpoints(server: EmulatorServer, client: stripe.StripeClient) -> None:
    assert control(server, "GET", "health")["ok"] is True
    assert control(server, "POST", "clock", {"set": T0 + 500})["now"] == T0 + 500
    assert control(server, "POST", "clock", {"advance_seconds": 100})["now"] == T0 + 600
    assert client.v1.customers.create().created == T0 + 600
    state = control(server, "POST", "faults", {"slow_rate": 0.25, "next": {"error_500": 2}})
    assert state["settings"]["slow_rate"] == 0.25 and state["next"] == {"error_500": 2}
    assert control(server, "POST", "faults", {"reset": True})["next"] == {}
    journal = control(server, "GET", "journal")["data"]
    assert [(e["method"], e["path"], e["status"]) for e in journal] == [
        ("POST", "/v1/customers", 200)
    ]
    with pytest.raises(urllib.error.HTTPError):
        control(server, "POST", "faults", {"no_such_setting": 1})
