"""The push against the emulator through the real SDK: deltas, no-op reruns, replays, window."""

from datetime import UTC, datetime, timedelta

import pytest

from dagster_project.push.meter_push import (
    PushReport,
    plan_intents,
    push_meter_events,
    record_intents,
)
from dagster_project.push.readback import meter_totals
from dagster_project.warehouse import connect

TODAY = datetime.now(UTC).date()
D1, D2 = TODAY - timedelta(days=3), TODAY - timedelta(days=2)


@pytest.fixture
def stripe_setup(stripe_sdk):
    meter = stripe_sdk.v1.billing.meters.create(
        {"display_name": "API", "event_name": "api_requests", "default_aggregation": {"formula": "sum"}}
    )
    customers = [stripe_sdk.v1.customers.create({"metadata": {"customer_id": k}}).id for k in ("a", "b")]
    return {"api_requests": meter.id}, customers


def set_desired(home, rows, meter_id="mtr_unused"):
    """rows: (stripe customer, day, desired whole units) for meter api_requests."""
    with connect(home.warehouse_path) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            """
            create or replace table marts.fct_meter_push_input (
                push_key varchar, stripe_customer_id varchar, meter_event_name varchar,
                meter_id varchar, usage_date date, desired_value bigint,
                customer_payload_key varchar, value_payload_key varchar)
            """
        )
        con.executemany(
            "insert into marts.fct_meter_push_input values (?, ?, 'api_requests', ?, ?, ?, 'stripe_customer_id', 'value')",
            [(f"{c}|{d}", c, meter_id, d, v) for c, d, v in rows],
        )


def subscribe_at_prices(home, meter_id, prices_by_customer):
    """What dbt's staging would hold: customer -> (currency, per-unit price) on one meter, each
    customer subscribed to its own price."""
    with connect(home.warehouse_path) as con:
        con.execute("create schema if not exists staging")
        con.execute("create schema if not exists intermediate")
        con.execute(
            "create or replace table staging.stg_stripe__billing_meters as "
            "select ? as meter_id, 'api_requests' as event_name", [meter_id]
        )
        con.execute(
            "create or replace table staging.stg_stripe__prices (price_id varchar, meter_id varchar, "
            "currency varchar, unit_amount_decimal decimal(38, 12), unit_amount bigint, "
            "billing_scheme varchar, transform_divide_by bigint, is_active boolean)"
        )
        con.execute(
            "create or replace table intermediate.int_subscription_meter_coverage (stripe_customer_id "
            "varchar, meter_id varchar, price_id varchar, subscription_ended_at timestamp)"
        )
        for customer, (currency, price) in prices_by_customer.items():
            con.execute(
                "insert into staging.stg_stripe__prices values (?, ?, ?, ?, null, 'per_unit', null, true)",
                [f"price_{customer}", meter_id, currency, price],
            )
            con.execute(
                "insert into intermediate.int_subscription_meter_coverage values (?, ?, ?, null)",
                [customer, meter_id, f"price_{customer}"],
            )


def push(home, client):
    with connect(home.warehouse_path) as con:
        return push_meter_events(con, client)


def stripe_totals(client, meters, customers):
    return meter_totals(client, meters, customers, TODAY - timedelta(days=30), TODAY + timedelta(days=1))


def intents(home):
    with connect(home.warehouse_path, read_only=True) as con:
        return con.execute(
            "select stripe_customer_id, usage_date, sequence_number, value, identifier "
            "from push.meter_event_intents order by 1, 2, 3"
        ).fetchall()


def test_push_then_rerun_pushes_nothing(home, stripe_sdk, stripe_setup):
    meters, (a, b) = stripe_setup
    set_desired(home, [(a, D1, 10), (a, D2, 5), (b, D1, 7), (b, D2, 0)])
    first = push(home, stripe_sdk)
    assert (first.new_intents, first.delivered, first.rejected, first.unresolved) == (3, 3, 0, 0)
    assert stripe_totals(stripe_sdk, meters, [a, b]) == {(a, "api_requests"): 15, (b, "api_requests"): 7}
    second = push(home, stripe_sdk)
    assert (second.new_intents, second.calls) == (0, 0)
    assert len(intents(home)) == 3


def test_late_usage_is_pushed_as_the_delta_under_a_new_identifier(home, stripe_sdk, stripe_setup):
    meters, (a, b) = stripe_setup
    set_desired(home, [(a, D1, 10)])
    push(home, stripe_sdk)
    set_desired(home, [(a, D1, 14)])  # four units arrived late for D1
    report = push(home, stripe_sdk)
    assert report.new_intents == 1 and report.delivered_units == 4
    (_, _, seq1, v1, id1), (_, _, seq2, v2, id2) = intents(home)
    assert (seq1, v1, seq2, v2) == (1, 10, 2, 4) and id1 != id2
    assert stripe_totals(stripe_sdk, meters, [a]) == {(a, "api_requests"): 14}


def test_downward_correction_is_a_negative_event(home, stripe_sdk, stripe_setup):
    meters, (a, _) = stripe_setup
    set_desired(home, [(a, D1, 10)])
    push(home, stripe_sdk)
    set_desired(home, [(a, D1, 6)])
    report = push(home, stripe_sdk)
    assert report.delivered_units == -4
    assert stripe_totals(stripe_sdk, meters, [a]) == {(a, "api_requests"): 6}


def test_unresolved_intent_is_resent_with_same_identifier_and_counted_once(home, stripe_sdk, stripe_setup):
    meters, (a, _) = stripe_setup
    set_desired(home, [(a, D1, 9)])
    # A run that committed its intent and then died before (or after) calling Stripe.
    with connect(home.warehouse_path) as con:
        from dagster_project.push.meter_push import ensure_push_schema

        ensure_push_schema(con)
        planned = plan_intents(con, datetime.now(UTC), PushReport())
        record_intents(con, planned, run_id="crashed")
    # It did reach Stripe once (same identifier and key the rerun will use).
    intent = planned[0]
    stripe_sdk.v1.billing.meter_events.create(
        {"event_name": "api_requests", "identifier": intent.identifier, "timestamp": intent.event_timestamp,
         "payload": {"stripe_customer_id": a, "value": "9"}},
        options={"idempotency_key": intent.identifier},
    )
    report = push(home, stripe_sdk)
    assert (report.resent_unresolved, report.new_intents, report.delivered) == (1, 0, 1)
    assert stripe_totals(stripe_sdk, meters, [a]) == {(a, "api_requests"): 9}
    assert push(home, stripe_sdk).calls == 0


def crashed_run_with_unresolved_intent(home, value):
    """A run that committed its intent for (a, D1) and died before recording any outcome."""
    from dagster_project.push.meter_push import ensure_push_schema

    with connect(home.warehouse_path) as con:
        ensure_push_schema(con)
        [intent] = plan_intents(con, datetime.now(UTC), PushReport())
        record_intents(con, [intent], run_id="crashed")
    assert intent.value == value
    return intent


def send_as_the_crashed_run_did(stripe_sdk, intent, customer):
    stripe_sdk.v1.billing.meter_events.create(
        {"event_name": "api_requests", "identifier": intent.identifier, "timestamp": intent.event_timestamp,
         "payload": {"stripe_customer_id": customer, "value": str(intent.value)}},
        options={"idempotency_key": intent.identifier},
    )


def rerun_a_day_later(home, stripe_sdk, emulator):
    """The rerun comes 25 hours later: past Stripe's identifier window, on both clocks."""
    from tests.emulator.conftest import control

    control(emulator, "POST", "clock", {"advance_seconds": 25 * 3600})
    with connect(home.warehouse_path) as con:
        return push_meter_events(con, stripe_sdk, now=datetime.now(UTC) + timedelta(hours=25))


def test_stale_unresolved_intent_that_landed_is_confirmed_not_resent(home, stripe_sdk, stripe_setup, emulator):
    meters, (a, _) = stripe_setup
    set_desired(home, [(a, D1, 9)])
    intent = crashed_run_with_unresolved_intent(home, 9)
    send_as_the_crashed_run_did(stripe_sdk, intent, a)  # it landed; its answer was lost
    report = rerun_a_day_later(home, stripe_sdk, emulator)
    # Resending under the same identifier would now be counted again (the window is over).
    assert (report.stale_confirmed, report.stale_lost, report.calls, report.new_intents) == (1, 0, 0, 0)
    assert stripe_totals(stripe_sdk, meters, [a]) == {(a, "api_requests"): 9}
    assert push(home, stripe_sdk).calls == 0


def test_stale_unresolved_intent_that_never_landed_is_replanned_under_a_new_identifier(
    home, stripe_sdk, stripe_setup, emulator
):
    meters, (a, _) = stripe_setup
    set_desired(home, [(a, D1, 9)])
    intent = crashed_run_with_unresolved_intent(home, 9)  # died before calling Stripe
    report = rerun_a_day_later(home, stripe_sdk, emulator)
    assert (report.stale_confirmed, report.stale_lost, report.new_intents, report.delivered) == (0, 1, 1, 1)
    (_, _, seq1, v1, id1), (_, _, seq2, v2, id2) = intents(home)
    assert (id1, seq1, seq2, v2) == (intent.identifier, 1, 2, 9) and id2 != id1
    assert stripe_totals(stripe_sdk, meters, [a]) == {(a, "api_requests"): 9}


def test_stale_unresolved_intent_with_an_ambiguous_stripe_total_is_held(home, stripe_sdk, stripe_setup, emulator):
    meters, (a, _) = stripe_setup
    set_desired(home, [(a, D1, 9)])
    intent = crashed_run_with_unresolved_intent(home, 9)
    # Someone else sent 2 units for that day: Stripe holds neither 0 nor 9.
    stripe_sdk.v1.billing.meter_events.create(
        {"event_name": "api_requests", "timestamp": intent.event_timestamp,
         "payload": {"stripe_customer_id": a, "value": "2"}}
    )
    report = rerun_a_day_later(home, stripe_sdk, emulator)
    assert (report.calls, report.new_intents, report.unresolved) == (0, 0, 1)
    [detail] = report.stale_held_details
    assert detail.startswith(f"{a} api_requests {D1}: Stripe holds 2; the push log says 0 delivered + 9 unresolved")
    assert stripe_totals(stripe_sdk, meters, [a]) == {(a, "api_requests"): 2}


def test_usage_outside_stripes_window_is_reported_not_sent(home, stripe_sdk, stripe_setup):
    meters, (a, _) = stripe_setup
    set_desired(home, [(a, TODAY - timedelta(days=40), 3), (a, D1, 2)])
    report = push(home, stripe_sdk)
    assert (report.out_of_window_keys, report.out_of_window_units, report.delivered_units) == (1, 3, 2)
    assert report.out_of_window_details == [f"{a} api_requests {TODAY - timedelta(days=40)}: 3 units"]
    assert stripe_totals(stripe_sdk, meters, [a]) == {(a, "api_requests"): 2}


def test_reconciliation_names_each_difference_with_the_amount_at_stake(home, stripe_sdk, stripe_setup):
    from dagster_project.push.reconcile import reconcile_usage

    meters, (a, b) = stripe_setup
    set_desired(home, [(a, D1, 10), (b, D2, 4)], meter_id=meters["api_requests"])
    # What dbt would hold: one meter, two per-unit prices in two currencies, a on the USD one
    # and b on the JPY one. Each difference is priced at its own customer's price.
    subscribe_at_prices(home, meters["api_requests"], {a: ("usd", "2.5"), b: ("jpy", "3")})
    push(home, stripe_sdk)
    with connect(home.warehouse_path) as con:
        assert reconcile_usage(con, stripe_sdk).differences == []
    # Someone else reports 3 units for customer b on D2 (or a double send): Stripe now holds 7.
    stripe_sdk.v1.billing.meter_events.create(
        {"event_name": "api_requests", "payload": {"stripe_customer_id": b, "value": "3"},
         "timestamp": int(datetime(D2.year, D2.month, D2.day, 6, tzinfo=UTC).timestamp())}
    )
    with connect(home.warehouse_path) as con:
        report = reconcile_usage(con, stripe_sdk)
        recorded = con.execute(
            "select stripe_customer_id, usage_date, difference_units, amount_at_stake from push.usage_reconciliation"
        ).fetchall()
    [diff] = report.differences
    assert (diff.stripe_customer_id, diff.meter_event_name, diff.usage_date) == (b, "api_requests", D2)
    assert (diff.warehouse_units, diff.stripe_units) == (4, 7)
    assert (diff.currency, diff.amount_at_stake) == ("jpy", -9)  # -3 x 3 yen, b's price, not a's
    assert recorded == [(b, D2, -3, -9)]


def test_out_of_window_usage_is_worth_its_customers_price(home, stripe_sdk, stripe_setup):
    meters, (a, b) = stripe_setup
    old = TODAY - timedelta(days=40)
    set_desired(home, [(a, old, 3), (b, old, 3)], meter_id=meters["api_requests"])
    subscribe_at_prices(home, meters["api_requests"], {a: ("usd", "2.5"), b: ("jpy", "3")})
    report = push(home, stripe_sdk)
    assert sorted(report.out_of_window_details) == sorted([
        f"{a} api_requests {old}: 3 units, 8 usd minor units",  # 7.5 -> 8, half up
        f"{b} api_requests {old}: 3 units, 9 jpy minor units",
    ])


# -- the v2 meter event stream (the default push) ---------------------------------------------------


def stream_requests(emulator):
    journal = emulator.journal()
    return (
        [e for e in journal if e["path"] == "/v2/billing/meter_event_stream"],
        [e for e in journal if e["path"] == "/v2/billing/meter_event_session"],
        [e for e in journal if e["path"] == "/v1/billing/meter_events"],
    )


def test_default_push_batches_up_to_100_events_per_stream_request(home, emulator, stripe_sdk, stripe_setup):
    from dagster_project.push.stream_sender import ACCEPTED_DETAIL

    meters, _ = stripe_setup
    customers = [stripe_sdk.v1.customers.create({"metadata": {"customer_id": f"s{i}"}}).id for i in range(8)]
    days = [TODAY - timedelta(days=d) for d in range(1, 31)]
    set_desired(home, [(c, d, 1 + i) for c in customers for i, d in enumerate(days)])  # 240 totals
    report = push(home, stripe_sdk)
    assert (report.api, report.delivered, report.unresolved, report.requests, report.sessions_created) == (
        "stream", 240, 0, 3, 1)
    stream, sessions, v1 = stream_requests(emulator)
    assert sorted(len(e["params"]["events"]) for e in stream) == [40, 100, 100] and len(sessions) == 1 and not v1
    assert stripe_totals(stripe_sdk, meters, customers) == {(c, "api_requests"): sum(range(1, 31)) for c in customers}
    with connect(home.warehouse_path, read_only=True) as con:
        details = con.execute("select distinct outcome, http_status, detail from push.meter_event_outcomes").fetchall()
    assert details == [("delivered", 200, ACCEPTED_DETAIL)]
    assert push(home, stripe_sdk).requests == 0


def test_a_session_that_expires_mid_push_is_renewed_and_the_batch_resent(home, emulator, stripe_sdk, stripe_setup):
    meters, (a, b) = stripe_setup
    set_desired(home, [(a, D1, 10), (b, D2, 4)])
    emulator.queue_faults(expire_session=1)
    report = push(home, stripe_sdk)
    assert (report.delivered, report.unresolved, report.sessions_created, report.sessions_expired) == (2, 0, 2, 1)
    assert stripe_totals(stripe_sdk, meters, [a, b]) == {(a, "api_requests"): 10, (b, "api_requests"): 4}


def test_session_is_renewed_before_its_lifetime_runs_out(home, emulator, stripe_sdk, stripe_setup):
    from dagster_project.push.meter_push import PushConfig

    meters, (a, _) = stripe_setup
    # Sessions shorter than the renewal margin: every request needs a fresh one, and no request
    # may go out on a token about to expire (so Stripe never has to answer 401).
    emulator.configure(meter_event_session_ttl_seconds=30)
    set_desired(home, [(a, TODAY - timedelta(days=d), d) for d in range(1, 11)])
    with connect(home.warehouse_path) as con:
        report = push_meter_events(con, stripe_sdk, config=PushConfig(batch_size=3))
    assert (report.requests, report.sessions_created, report.sessions_expired) == (4, 4, 0)
    assert stripe_totals(stripe_sdk, meters, [a]) == {(a, "api_requests"): sum(range(1, 11))}


def test_an_event_the_stream_accepts_then_drops_is_caught_by_reconciliation(home, stripe_sdk, stripe_setup, emulator):
    """Stream validation is asynchronous: a 2xx is 'accepted', and the read-back confirms it."""
    from dagster_project.push.reconcile import reconcile_usage

    meters, (a, _) = stripe_setup
    set_desired(home, [(a, D1, 10)], meter_id=meters["api_requests"])
    with connect(home.warehouse_path) as con:
        con.execute("create schema if not exists staging")
        con.execute(
            "create or replace table staging.stg_stripe__billing_meters as "
            "select ? as meter_id, 'api_requests' as event_name", [meters["api_requests"]]
        )
    stripe_sdk.v1.billing.meters.deactivate(meters["api_requests"])  # Stripe will drop the event
    report = push(home, stripe_sdk)
    assert (report.delivered, report.rejected, report.unresolved) == (1, 0, 0)
    assert [e["code"] for e in emulator.meter_event_errors()] == ["archived_meter"]
    with connect(home.warehouse_path) as con:
        [diff] = reconcile_usage(con, stripe_sdk).differences
    assert (diff.stripe_customer_id, diff.usage_date, diff.warehouse_units, diff.stripe_units) == (a, D1, 10, 0)


def test_v1_push_remains_available(home, emulator, stripe_sdk, stripe_setup):
    from dagster_project.push.meter_push import PushConfig

    meters, (a, b) = stripe_setup
    set_desired(home, [(a, D1, 10), (b, D1, 7)])
    with connect(home.warehouse_path) as con:
        report = push_meter_events(con, stripe_sdk, config=PushConfig(api="v1"))
    assert (report.api, report.delivered, report.requests) == ("v1", 2, 2)
    stream, sessions, v1 = stream_requests(emulator)
    assert (len(stream), len(sessions), len(v1)) == (0, 0, 2)
    assert stripe_totals(stripe_sdk, meters, [a, b]) == {(a, "api_requests"): 10, (b, "api_requests"): 7}
