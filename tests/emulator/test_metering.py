"""Meters, meter events, adjustments and event summaries through the real SDK."""

from __future__ import annotations

import pytest
import stripe

from dagster_project.stripe_emulator.server import EmulatorServer
from tests.emulator.conftest import T0, control

DAY = 86400


def send(
    client: stripe.StripeClient,
    customer: str,
    value: str,
    timestamp: int,
    identifier: str | None = None,
    event_name: str = "api_calls",
) -> stripe.billing.MeterEvent:
    params: dict = {
        "event_name": event_name,
        "payload": {"stripe_customer_id": customer, "value": value},
        "timestamp": timestamp,
    }
    if identifier is not None:
        params["identifier"] = identifier
    return client.v1.billing.meter_events.create(params)


def summaries(
    client: stripe.StripeClient, meter: str, customer: str, start: int, end: int, **extra
) -> list[tuple[int, int, float]]:
    page = client.v1.billing.meters.event_summaries.list(
        meter, {"customer": customer, "start_time": start, "end_time": end, **extra}
    )
    return [(s.start_time, s.end_time, s.aggregated_value) for s in page.auto_paging_iter()]


def test_meter_shape_and_unique_event_name(
    client: stripe.StripeClient, meter: stripe.billing.Meter
) -> None:
    assert meter.id.startswith("mtr_")
    assert meter.status == "active"
    assert meter.customer_mapping.to_dict() == {
        "event_payload_key": "stripe_customer_id",
        "type": "by_id",
    }
    assert meter.value_settings.event_payload_key == "value"
    assert meter.event_time_window is None
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meters.create(
            {
                "display_name": "again",
                "event_name": "api_calls",
                "default_aggregation": {"formula": "count"},
            }
        )
    assert err.value.param == "event_name"

    renamed = client.v1.billing.meters.update(meter.id, {"display_name": "Calls"})
    assert renamed.display_name == "Calls"
    inactive = client.v1.billing.meters.deactivate(meter.id)
    assert inactive.status == "inactive"
    assert inactive.status_transitions.deactivated_at == T0
    assert client.v1.billing.meters.list({"status": "active"}).data == []
    assert client.v1.billing.meters.reactivate(meter.id).status == "active"


def test_sum_summaries_with_day_grouping(
    client: stripe.StripeClient, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    other = client.v1.customers.create({"email": "other@x.test"})
    day1, day2 = T0 - 2 * DAY, T0 - DAY
    send(client, customer.id, "5", day1 + 60)
    send(client, customer.id, "2.5", day1 + 3600)
    send(client, customer.id, "-1", day2 + 10)  # corrections may be negative
    send(client, customer.id, "7", day2 + DAY - 1)
    send(client, other.id, "100", day1 + 60)
    send(client, customer.id, "1000", T0)  # at end_time: excluded

    assert summaries(client, meter.id, customer.id, day1, T0) == [(day1, T0, 13.5)]
    by_day = summaries(client, meter.id, customer.id, day1, T0, value_grouping_window="day")
    assert by_day == [(day2, T0, 6), (day1, day2, 7.5)]  # newest first
    assert isinstance(by_day[0][2], int)
    hourly = summaries(
        client, meter.id, customer.id, day1, day1 + 3 * 3600, value_grouping_window="hour"
    )
    assert hourly == [
        (day1 + 7200, day1 + 10800, 0),
        (day1 + 3600, day1 + 7200, 2.5),
        (day1, day1 + 3600, 5),
    ]
    assert summaries(client, meter.id, other.id, day1, T0) == [(day1, T0, 100)]


@pytest.mark.parametrize(
    ("start", "end", "grouping", "param"),
    [
        (T0 - DAY + 30, T0, None, "start_time"),
        (T0 - DAY, T0 + 59, None, "end_time"),
        (T0 - DAY + 60, T0, "hour", "start_time"),
        (T0 - DAY + 3600, T0, "day", "start_time"),
    ],
)
def test_summary_alignment_errors(
    client: stripe.StripeClient,
    customer: stripe.Customer,
    meter: stripe.billing.Meter,
    start: int,
    end: int,
    grouping: str | None,
    param: str,
) -> None:
    extra = {"value_grouping_window": grouping} if grouping else {}
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meters.event_summaries.list(
            meter.id, {"customer": customer.id, "start_time": start, "end_time": end, **extra}
        )
    assert err.value.http_status == 400
    assert err.value.param == param


def test_duplicate_identifier_is_rejected_and_counted_once(
    client: stripe.StripeClient, customer: stripe.Customer, meter: stripe.billing.Meter
) -> None:
    first = send(client, customer.id, "4", T0 - 100, identifier="usage-1")
    assert first.identifier == "usage-1"
    with pytest.raises(stripe.InvalidRequestError) as err:
        send(client, customer.id, "4", T0 - 100, identifier="usage-1")
    assert err.value.http_status == 400
    assert err.value.code == "duplicate_meter_event"
    assert err.value.user_message == "An event already exists with identifier usage-1."
    assert err.value.headers["Stripe-Should-Retry"] == "false"
    assert summaries(client, meter.id, customer.id, T0 - DAY, T0 + 60) == [(T0 - DAY, T0 + 60, 4)]


def test_identifier_window_is_rolling(
    server: EmulatorServer,
    client: stripe.StripeClient,
    customer: stripe.Customer,
    meter: stripe.billing.Meter,
) -> None:
    send(client, customer.id, "1", T0, identifier="daily")
    control(server, "POST", "clock", {"advance_seconds": DAY + 1})
    again = send(client, customer.id, "1", T0 + DAY, identifier="daily")
    assert again.identifier == "daily"


def test_out_of_window_timestamps(
    server: EmulatorServer,
    client: stripe.StripeClient,
    customer: stripe.Customer,
    meter: stripe.billing.Meter,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        send(client, customer.id, "1", T0 - 36 * DAY)
    assert err.value.param == "timestamp"
    with pytest.raises(stripe.InvalidRequestError):
        send(client, customer.id, "1", T0 + 301)
    send(client, customer.id, "2", T0 - 34 * DAY)
    send(client, customer.id, "3", T0 + 300)

    server.configure(reject_out_of_window_timestamps=False)
    accepted = send(client, customer.id, "50", T0 - 40 * DAY, identifier="late")
    assert accepted.identifier == "late"
    errors = server.meter_event_errors()
    assert [(e["code"], e["identifier"]) for e in errors] == [("timestamp_too_far_in_past", "late")]
    assert summaries(client, meter.id, customer.id, T0 - 41 * DAY, T0 + 360) == [
        (T0 - 41 * DAY, T0 + 360, 5)
    ]


def test_values_must_be_numeric_and_decimals_configurable(
    server: EmulatorServer,
    client: stripe.StripeClient,
    customer: stripe.Customer,
    meter: stripe.billing.Meter,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        send(client, customer.id, "lots", T0)
    assert err.value.param == "payload[value]"
    server.configure(allow_decimal_values=False)
    with pytest.raises(stripe.InvalidRequestError):
        send(client, customer.id, "1.5", T0)
    send(client, customer.id, "2", T0)
    assert summaries(client, meter.id, customer.id, T0, T0 + 60)[0][2] == 2


def test_events_without_meter_or_customer_are_accepted_but_not_counted(
    server: EmulatorServer,
    client: stripe.StripeClient,
    customer: stripe.Customer,
    meter: stripe.billing.Meter,
) -> None:
    send(client, customer.id, "9", T0, event_name="nobody_meters_this", identifier="e1")
    send(client, "cus_ghost", "9", T0, identifier="e2")
    send(client, customer.id, "1", T0, identifier="e3")
    assert sorted((e["code"], e["identifier"]) for e in server.meter_event_errors()) == [
        ("meter_event_customer_not_found", "e2"),
        ("no_meter", "e1"),
    ]
    assert summaries(client, meter.id, customer.id, T0, T0 + 60)[0][2] == 1


def test_adjustment_cancels_within_24_hours(
    server: EmulatorServer,
    client: stripe.StripeClient,
    customer: stripe.Customer,
    meter: stripe.billing.Meter,
) -> None:
    send(client, customer.id, "10", T0 - 120, identifier="keep")
    send(client, customer.id, "5", T0 - 120, identifier="oops")
    adjustment = client.v1.billing.meter_event_adjustments.create(
        {"event_name": "api_calls", "type": "cancel", "cancel": {"identifier": "oops"}}
    )
    assert adjustment.object == "billing.meter_event_adjustment"
    assert adjustment.cancel.identifier == "oops"
    assert adjustment.status in ("pending", "complete")
    assert summaries(client, meter.id, customer.id, T0 - 3600, T0)[0][2] == 10

    control(server, "POST", "clock", {"advance_seconds": 25 * 3600})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meter_event_adjustments.create(
            {"event_name": "api_calls", "type": "cancel", "cancel": {"identifier": "keep"}}
        )
    assert err.value.param == "cancel[identifier]"
    assert summaries(client, meter.id, customer.id, T0 - 3600, T0)[0][2] == 10


def test_count_and_last_formulas_and_custom_payload_keys(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    counted = client.v1.billing.meters.create(
        {
            "display_name": "Requests",
            "event_name": "requests",
            "default_aggregation": {"formula": "count"},
            "customer_mapping": {"type": "by_id", "event_payload_key": "account"},
        }
    )
    last = client.v1.billing.meters.create(
        {
            "display_name": "Seats",
            "event_name": "seats",
            "default_aggregation": {"formula": "last"},
            "value_settings": {"event_payload_key": "seats"},
        }
    )
    for ts in (T0 - 300, T0 - 200, T0 - 100):
        client.v1.billing.meter_events.create(
            {"event_name": "requests", "payload": {"account": customer.id}, "timestamp": ts}
        )
    for ts, seats in ((T0 - 100, "7"), (T0 - 300, "3")):
        client.v1.billing.meter_events.create(
            {
                "event_name": "seats",
                "timestamp": ts,
                "payload": {"stripe_customer_id": customer.id, "seats": seats},
            }
        )
    assert summaries(client, counted.id, customer.id, T0 - 3600, T0)[0][2] == 3
    assert summaries(client, last.id, customer.id, T0 - 3600, T0)[0][2] == 7
    assert summaries(client, last.id, customer.id, T0 - 7200, T0 - 3600)[0][2] == 0


def test_processing_delay_makes_summaries_eventually_consistent(
    server: EmulatorServer,
    client: stripe.StripeClient,
    customer: stripe.Customer,
    meter: stripe.billing.Meter,
) -> None:
    server.configure(processing_delay_seconds=30)
    send(client, customer.id, "8", T0 - 60)
    assert summaries(client, meter.id, customer.id, T0 - 3600, T0)[0][2] == 0
    control(server, "POST", "clock", {"advance_seconds": 30})
    assert summaries(client, meter.id, customer.id, T0 - 3600, T0)[0][2] == 8
