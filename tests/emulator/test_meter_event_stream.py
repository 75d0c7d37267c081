"""The v2 meter event session and stream: auth by session token, expiry, the 100-event limit,
asynchronous validation, silent identifier dedupe, faults and restarts. Through the real SDK."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import stripe

from dagster_project.stripe_emulator.server import EmulatorServer, EmulatorSettings
from tests.emulator.conftest import T0, control, make_client

DAY = 86400
SESSION_TTL = 15 * 60


def at(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def stream_event(customer: str, identifier: str, value: str = "3", **overrides) -> dict:
    event = {
        "event_name": "api_calls",
        "identifier": identifier,
        "timestamp": at(T0 - 3600),
        "payload": {"stripe_customer_id": customer, "value": value},
    }
    event.update(overrides)
    return event


def send(client: stripe.StripeClient, token: str, events: list[dict]) -> None:
    client.v2.billing.meter_event_stream.create({"events": events}, {"api_key": token})


def usage(client: stripe.StripeClient, meter: str, customer: str) -> float:
    page = client.v1.billing.meters.event_summaries.list(
        meter, {"customer": customer, "start_time": T0 - DAY, "end_time": T0 + 60}
    )
    return page.data[0].aggregated_value


@pytest.fixture
def token(client: stripe.StripeClient) -> str:
    return client.v2.billing.meter_event_session.create().authentication_token


def test_session_is_created_with_the_secret_key_and_lasts_15_minutes(
    server: EmulatorServer, client: stripe.StripeClient
) -> None:
    session = client.v2.billing.meter_event_session.create()
    assert session.object == "v2.billing.meter_event_session"
    assert session.livemode is False and session.id
    created = datetime.fromisoformat(session.created)
    expires = datetime.fromisoformat(session.expires_at)
    assert (created.timestamp(), (expires - created).total_seconds()) == (T0, SESSION_TTL)
    # The token is a credential for the stream only: it is no secret key.
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.list(options={"api_key": session.authentication_token})
    with requests.post(f"{server.url}/v2/billing/meter_event_session", json={}) as anonymous:
        assert anonymous.status_code == 401
        assert set(anonymous.json()["error"]) == {"type", "message"}  # v2 envelope


def test_stream_accepts_up_to_100_events_and_they_count_with_v1_events(
    server: EmulatorServer, client: stripe.StripeClient, customer, meter, token: str
) -> None:
    client.v1.billing.meter_events.create(
        {"event_name": "api_calls", "identifier": "v1-1", "timestamp": T0 - 60,
         "payload": {"stripe_customer_id": customer.id, "value": "1000"}}
    )
    result = client.v2.billing.meter_event_stream.create(
        {"events": [stream_event(customer.id, f"s-{i}") for i in range(100)]}, {"api_key": token}
    )
    assert result is None  # the stream answers {}; the SDK returns nothing
    assert usage(client, meter.id, customer.id) == 1000 + 100 * 3
    held = control(server, "GET", "meter_events?customer=" + customer.id)["data"]
    assert sorted(e["api"] for e in held) == ["stream"] * 100 + ["v1"]


def test_more_than_100_events_is_a_400_and_nothing_is_recorded(
    server: EmulatorServer, client: stripe.StripeClient, customer, meter, token: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        send(client, token, [stream_event(customer.id, f"s-{i}") for i in range(101)])
    assert err.value.http_status == 400 and "100" in err.value.user_message
    with pytest.raises(stripe.InvalidRequestError):
        send(client, token, [])
    with pytest.raises(stripe.InvalidRequestError):  # the shape is checked at once
        send(client, token, [{"event_name": "api_calls", "payload": {"value": 3}}])
    assert server.emulator.store.meter_events() == []


def test_stream_needs_a_live_session_token(
    server: EmulatorServer, client: stripe.StripeClient, customer, meter, token: str
) -> None:
    events = [stream_event(customer.id, "e-1")]
    for not_a_session in ("sk_test_emulator", "mets_test_made_up"):
        with pytest.raises(stripe.TemporarySessionExpiredError):
            send(client, not_a_session, events)
    with requests.post(f"{server.url}/v2/billing/meter_event_stream", json={"events": events}) as r:
        assert r.status_code == 401
    send(client, token, events)
    assert usage(client, meter.id, customer.id) == 3


def test_expired_session_is_a_401_temporary_session_expired_until_renewed(
    server: EmulatorServer, client: stripe.StripeClient, customer, meter, token: str
) -> None:
    server.clock.advance(SESSION_TTL - 1)
    send(client, token, [stream_event(customer.id, "before-expiry")])
    server.clock.advance(1)
    with pytest.raises(stripe.TemporarySessionExpiredError) as err:
        send(client, token, [stream_event(customer.id, "after-expiry")])
    assert (err.value.http_status, err.value.code) == (401, "billing_meter_event_session_expired")
    raw = requests.post(
        f"{server.url}/v2/billing/meter_event_stream",
        json={"events": [stream_event(customer.id, "raw")]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert raw.status_code == 401
    assert raw.json() == {
        "error": {
            "type": "temporary_session_expired",
            "code": "billing_meter_event_session_expired",
            "message": raw.json()["error"]["message"],
        }
    }
    assert token not in raw.text  # the credential is never echoed
    fresh = client.v2.billing.meter_event_session.create().authentication_token
    send(client, fresh, [stream_event(customer.id, "after-expiry")])
    assert usage(client, meter.id, customer.id) == 6


def test_duplicate_identifiers_are_dropped_silently_and_never_counted_twice(
    server: EmulatorServer, client: stripe.StripeClient, customer, meter, token: str
) -> None:
    client.v1.billing.meter_events.create(
        {"event_name": "api_calls", "identifier": "from-v1", "timestamp": T0 - 60,
         "payload": {"stripe_customer_id": customer.id, "value": "5"}}
    )
    send(client, token, [stream_event(customer.id, "a"), stream_event(customer.id, "a", "7")])
    send(client, token, [stream_event(customer.id, "a"), stream_event(customer.id, "from-v1")])
    assert usage(client, meter.id, customer.id) == 5 + 3
    counters = control(server, "GET", "meter_event_stream")
    assert counters["stream_duplicate_identifiers_ignored"] == 3
    assert counters["stream_events_recorded"] == 1
    # And the other way round: v1 refuses an identifier the stream already holds.
    with pytest.raises(stripe.InvalidRequestError, match="already exists"):
        client.v1.billing.meter_events.create(
            {"event_name": "api_calls", "identifier": "a",
             "payload": {"stripe_customer_id": customer.id, "value": "1"}}
        )
    # Past the identifier window, the identifier is free again (Stripe: rolling 24 hours).
    server.clock.advance(DAY + 1)
    next_day_token = client.v2.billing.meter_event_session.create().authentication_token
    send(client, next_day_token, [stream_event(customer.id, "a", timestamp=at(T0 + 60))])
    assert control(server, "GET", "meter_event_stream")["stream_events_recorded"] == 2


def test_invalid_events_are_accepted_then_reported_and_never_counted(
    server: EmulatorServer, client: stripe.StripeClient, customer, meter, token: str
) -> None:
    send(
        client,
        token,
        [
            stream_event(customer.id, "ok"),
            stream_event("cus_missing", "no-customer"),
            stream_event(customer.id, "not-a-number", "three"),
            stream_event(customer.id, "no-meter", event_name="nobody_meters_this"),
            stream_event(customer.id, "too-old", timestamp=at(T0 - 36 * DAY)),
            stream_event(customer.id, "future", timestamp=at(T0 + 3600)),
        ],
    )
    assert usage(client, meter.id, customer.id) == 3
    codes = {e["identifier"]: e["code"] for e in server.meter_event_errors()}
    assert codes == {
        "no-customer": "meter_event_customer_not_found",
        "not-a-number": "meter_event_invalid_value",
        "no-meter": "no_meter",
        "too-old": "timestamp_too_far_in_past",
        "future": "timestamp_in_future",
    }
    counters = control(server, "GET", "meter_event_stream")
    assert (counters["stream_events_recorded"], counters["stream_events_invalid"]) == (6, 5)


def test_faults_apply_to_the_stream(
    server: EmulatorServer, client: stripe.StripeClient, customer, meter, token: str
) -> None:
    server.queue_faults(rate_limit=1)
    with pytest.raises(stripe.RateLimitError):
        send(client, token, [stream_event(customer.id, "r")])
    server.queue_faults(error_500=1)
    with pytest.raises(stripe.APIError) as err:
        send(client, token, [stream_event(customer.id, "r")])
    assert err.value.http_status == 500
    # Lost response after commit, then the SDK's retry under the same key: counted once.
    server.queue_faults(drop_after_commit=1)
    make_client(server, retries=2).v2.billing.meter_event_stream.create(
        {"events": [stream_event(customer.id, "r")]}, {"api_key": token}
    )
    # v2 completes the work on a retry of a 500 instead of replaying the failure.
    server.queue_faults(error_500=1)
    make_client(server, retries=2).v2.billing.meter_event_stream.create(
        {"events": [stream_event(customer.id, "r2")]}, {"api_key": token}
    )
    assert usage(client, meter.id, customer.id) == 6
    server.queue_faults(expire_session=1)
    with pytest.raises(stripe.TemporarySessionExpiredError):
        send(client, token, [stream_event(customer.id, "x")])
    with pytest.raises(stripe.TemporarySessionExpiredError):  # it stays expired
        send(client, token, [stream_event(customer.id, "x")])


def test_stream_rate_limit_is_its_own_token_bucket(
    server: EmulatorServer, client: stripe.StripeClient, customer, meter, token: str
) -> None:
    server.configure(rate_limit_meter_event_stream_per_second=1)
    send(client, token, [stream_event(customer.id, "first")])
    with pytest.raises(stripe.RateLimitError) as err:
        send(client, token, [stream_event(customer.id, "second")])
    assert err.value.headers["Stripe-Rate-Limited-Reason"] == "endpoint-rate"
    client.v1.customers.list()  # other endpoints are not held back by the stream's bucket


def test_sessions_and_events_survive_a_restart(state_dir, tmp_path) -> None:
    first = EmulatorServer(state_dir, settings=EmulatorSettings(now=T0)).start()
    client = make_client(first)
    cus = client.v1.customers.create({"email": "r@x.test"})
    mtr = client.v1.billing.meters.create(
        {"display_name": "API", "event_name": "api_calls", "default_aggregation": {"formula": "sum"}}
    )
    token = client.v2.billing.meter_event_session.create().authentication_token
    send(client, token, [stream_event(cus.id, "kept")])
    first.stop()
    second = EmulatorServer(state_dir, settings=EmulatorSettings(now=T0 + 60)).start()
    try:
        client = make_client(second)
        send(client, token, [stream_event(cus.id, "kept"), stream_event(cus.id, "new")])
        assert usage(client, mtr.id, cus.id) == 6
    finally:
        second.stop()
