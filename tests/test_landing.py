"""Landing-zone ingestion: every line kept and numbered, every format, re-landing is a no-op."""

import gzip
import json
from datetime import date

import pandas as pd
import pytest

from dagster_project.ingest.landing import ingest_day
from dagster_project.warehouse import connect

DAY = date(2026, 11, 20)


def _event(i: int, **overrides) -> dict:
    return {
        "event_id": f"e{i}", "customer_id": "acct_a", "meter": "api_requests",
        "timestamp": "2026-11-20T10:00:00Z", "quantity": i, **overrides,
    }


@pytest.fixture
def landing(home):
    folder = home.landing_usage_dir / f"dt={DAY}"
    folder.mkdir(parents=True)
    return folder


def _rows(home, sql):
    with connect(home.warehouse_path, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_line_kept_with_number_and_parse_error(home, landing):
    lines = [json.dumps(_event(1)), "not json", "", "[1, 2]", json.dumps(_event(2))]
    (landing / "a.ndjson").write_text("\n".join(lines) + "\n")
    (landing / "b.ndjson").write_bytes(b'{"event_id": "e3"}\n\xff\xfe not utf-8\n' + json.dumps(_event(4)).encode() + b"\n")
    with connect(home.warehouse_path) as con:
        result = ingest_day(con, home.landing_usage_dir, DAY)
    assert result.files_loaded == 2
    assert result.lines_loaded == 8
    rows = _rows(home, "select source_file, line_number, parse_error, event_id from raw.usage_events order by 1, 2")
    assert rows == [
        ("dt=2026-11-20/a.ndjson", 1, None, "e1"),
        ("dt=2026-11-20/a.ndjson", 2, "malformed_json", None),
        ("dt=2026-11-20/a.ndjson", 3, "empty_line", None),
        ("dt=2026-11-20/a.ndjson", 4, "not_an_object", None),
        ("dt=2026-11-20/a.ndjson", 5, None, "e2"),
        ("dt=2026-11-20/b.ndjson", 1, None, "e3"),
        ("dt=2026-11-20/b.ndjson", 2, "invalid_encoding", None),
        ("dt=2026-11-20/b.ndjson", 3, None, "e4"),
    ]
    manifest = _rows(home, "select source_file, line_count from raw.landing_manifest order by 1")
    assert manifest == [("dt=2026-11-20/a.ndjson", 5), ("dt=2026-11-20/b.ndjson", 3)]


def test_gzip_and_parquet_read_with_same_fields(home, landing):
    with gzip.open(landing / "a.ndjson.gz", "wt") as f:
        f.write(json.dumps(_event(1, quantity="1.250", properties={"region": "eu"})) + "\n")
    pd.DataFrame(
        [
            {"event_id": "p1", "customer_id": "acct_a", "meter": "api_requests",
             "timestamp": "2026-11-20T11:00:00+02:00", "quantity": "7", "properties": '{"region": "eu"}'},
            {"event_id": "p2", "customer_id": "acct_b", "meter": "api_requests",
             "timestamp": "2026-11-20T12:00:00Z", "quantity": "0.5", "properties": None},
        ]
    ).to_parquet(landing / "b.parquet", index=False)
    with connect(home.warehouse_path) as con:
        ingest_day(con, home.landing_usage_dir, DAY)
    rows = _rows(
        home,
        "select file_id is not null, line_number, event_id, event_timestamp, quantity, properties "
        "from raw.usage_events order by source_file, line_number",
    )
    assert rows == [
        (True, 1, "e1", "2026-11-20T10:00:00Z", "1.250", '{"region":"eu"}'),
        (True, 1, "p1", "2026-11-20T11:00:00+02:00", "7", '{"region":"eu"}'),
        (True, 2, "p2", "2026-11-20T12:00:00Z", "0.5", None),
    ]


def test_relanding_same_bytes_is_a_no_op(home, landing):
    (landing / "a.ndjson").write_text(json.dumps(_event(1)) + "\n" + json.dumps(_event(2)) + "\n")
    with connect(home.warehouse_path) as con:
        first = ingest_day(con, home.landing_usage_dir, DAY)
        (landing / "a_copy.ndjson").write_bytes((landing / "a.ndjson").read_bytes())
        second = ingest_day(con, home.landing_usage_dir, DAY)
    assert (first.files_loaded, first.lines_loaded) == (1, 2)
    assert (second.files_loaded, second.files_skipped, second.lines_loaded) == (0, 2, 0)
    assert _rows(home, "select count(*) from raw.usage_events") == [(2,)]
    assert _rows(home, "select source_file from raw.landing_duplicate_files") == [("dt=2026-11-20/a_copy.ndjson",)]


def test_a_day_without_files_loads_nothing(home):
    with connect(home.warehouse_path) as con:
        result = ingest_day(con, home.landing_usage_dir, DAY)
    assert result.files == []


def test_parquet_rows_are_shown_exactly_as_they_would_have_been_stored(home, landing):
    """Contract-layout Parquet rows land without a stored raw_line; quarantined lines are shown
    with the same JSON text the row would have been stored as (escapes, unicode, padding)."""
    from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema
    from tests.conftest import run_dbt

    rows = [
        {"event_id": "p1", "customer_id": "acct_a", "meter": "api_requests",
         "timestamp": "2026-11-20T11:00:00Z", "quantity": "7", "properties": '{"region":"eu"}'},
        {"event_id": 'q"uo\\te\n', "customer_id": "ünïcode ✓", "meter": " padded ",
         "timestamp": "yesterday", "quantity": "-1", "properties": "region=eu"},
        {"event_id": "p3", "customer_id": None, "meter": "api_requests",
         "timestamp": "2026-11-20T12:00:00Z", "quantity": "0.5", "properties": None},
        # Not minified: the stored properties differ from the file, so the row keeps its text.
        {"event_id": "p4", "customer_id": "acct_a", "meter": "api_requests",
         "timestamp": "2026-11-20T13:00:00Z", "quantity": "1", "properties": '{"region": "eu"}'},
    ]
    path = landing / "c.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False)
    with connect(home.warehouse_path) as con:
        ingest_day(con, home.landing_usage_dir, DAY)
        as_landed = con.execute(
            "select cast(to_json(struct_pack(event_id := event_id, customer_id := customer_id, "
            "meter := meter, \"timestamp\" := \"timestamp\", quantity := quantity, "
            "properties := properties)) as varchar) from read_parquet(?) order by file_row_number",
            [str(path)],
        ).fetchall()
    stored = _rows(home, "select line_number, raw_line is null from raw.usage_events order by 1")
    assert stored == [(1, True), (2, True), (3, True), (4, False)]

    with connect(home.warehouse_path) as con:
        ensure_raw_stripe_schema(con)  # no meters or customers: every row is quarantined
    run_dbt("run", "--select", "+int_usage_events_quarantined")
    shown = _rows(home, "select raw_line from intermediate.int_usage_events_quarantined order by line_number")
    assert shown == as_landed
    assert shown[3] == ('{"event_id":"p4","customer_id":"acct_a","meter":"api_requests",'
                        '"timestamp":"2026-11-20T13:00:00Z","quantity":"1","properties":"{\\"region\\": \\"eu\\"}"}',)
