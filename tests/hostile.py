"""A landing file of hostile lines, each with the reason it must be quarantined for."""

from __future__ import annotations

import json

TEN_MB = 10 * 1024 * 1024


def hostile_lines(day: str, known_event: dict) -> list[tuple[bytes, str]]:
    """(raw line bytes without newline, expected reason). ``known_event`` is an event already
    accepted: copies of its id with other payloads must be refused as conflicting duplicates."""
    at = f"{day}T12:00:00Z"

    def ev(**fields) -> bytes:
        base = {"event_id": "h", "customer_id": "acct_0001", "meter": "api_requests", "timestamp": at, "quantity": 1}
        return json.dumps(base | fields).encode()

    deep = "[" * 5000 + "]" * 5000
    return [
        (b'{"event_id": "h_utf8", "customer_id": "acct_0001", "meter": "api_requests", "quantity": 1, "x": "\xff\xfe\xc3\x28"}', "invalid_encoding"),
        (b"\xc0\xaf\xed\xa0\x80", "invalid_encoding"),
        (ev(event_id="h_10mb", properties={"blob": "A" * TEN_MB}), "line_too_long"),
        (b"A" * TEN_MB, "line_too_long"),
        (('{"event_id": "h_deep", "customer_id": "acct_0001", "meter": "api_requests", "timestamp": "'
          + at + '", "quantity": 1, "properties": ' + deep + "}").encode(), "invalid_properties"),
        (ev(event_id="h_props", properties="region=eu"), "invalid_properties"),
        (ev(event_id={"$ne": None}, customer_id=["acct_0001"], meter={"a": [1, {"b": None}]}), "unknown_meter"),
        (json.dumps({"event_id": "h_nest", "customer_id": {"customer_id": "acct_0001"}, "meter": "api_requests",
                     "timestamp": at, "quantity": {"value": 5}}).encode(), "invalid_quantity"),
        (ev(event_id="h_1e309", quantity=1e308 * 10).replace(b"Infinity", b"1e309"), "invalid_quantity"),
        (ev(event_id="h_1e309s", quantity="1e309"), "invalid_quantity"),
        (b'{"event_id": "h_nan", "customer_id": "acct_0001", "meter": "api_requests", "timestamp": "' + at.encode() + b'", "quantity": NaN}', "invalid_quantity"),  # DuckDB's JSON reads NaN
        (ev(event_id="h_nans", quantity="NaN"), "invalid_quantity"),
        (ev(event_id="h_inf", quantity="-Infinity"), "invalid_quantity"),
        (ev(event_id="h_big", quantity="1" + "0" * 40), "invalid_quantity"),
        (ev(event_id="h_neg0", customer_id="acct_nobody", quantity=-0.0), "unknown_customer"),
        (ev(event_id="h_neg0s", meter="api_requests ; --", quantity="-0"), "unknown_meter"),
        (ev(event_id="h_y9999", timestamp="9999-12-31T23:59:59Z"), "future_timestamp"),
        (ev(event_id="h_y10000", timestamp="10000-01-01T00:00:00Z"), "invalid_timestamp"),
        (ev(event_id="h_y0", timestamp="0000-01-01T00:00:00Z"), "too_late"),
        (ev(event_id="h_offset", timestamp=f"{day}T12:00:00+99:99"), "invalid_timestamp"),
        (ev(event_id="'; drop table raw.usage_events; --", customer_id="x' or '1'='1"), "unknown_customer"),
        (ev(event_id="h_sql2", customer_id="acct_0001'); delete from push.meter_event_intents; --"), "unknown_customer"),
        (ev(event_id="h_sql3", meter="api_requests' union select * from raw_stripe.customers --"), "unknown_meter"),
        (b"\x00\x00\x00", "malformed_json"),
        (b"null", "not_an_object"),
        (b'["event_id", "h_arr"]', "not_an_object"),
        (b'{"event_id": "h_dupkey", "event_id": "h_dupkey2", "customer_id": "acct_0001"}', "missing_field"),
        # The same id as an accepted event, with other payloads: never a second charge.
        (json.dumps(known_event | {"quantity": "999999"}).encode(), "conflicting_duplicate"),
        (json.dumps(known_event | {"quantity": -0.0}).encode(), "conflicting_duplicate"),
        (json.dumps(known_event | {"properties": {"region": "mars"}}).encode(), "conflicting_duplicate"),
        (json.dumps(known_event | {"customer_id": "acct_0002"}).encode(), "conflicting_duplicate"),
    ]
