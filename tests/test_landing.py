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


def _contract_rows() -> list[dict]:
    """Contract-layout rows, all text, properties minified: the layout a warehouse keeps as is."""
    return [
        {"event_id": "k1", "customer_id": "acct_a", "meter": "api_requests",
         "timestamp": "2026-11-20T11:00:00Z", "quantity": "7", "properties": '{"region":"eu"}'},
        {"event_id": " k2 ", "customer_id": "ünïcode ✓", "meter": "api_requests",
         "timestamp": "yesterday", "quantity": "-1", "properties": "region=eu"},
        {"event_id": "k3", "customer_id": None, "meter": "api_requests",
         "timestamp": "2026-11-20T12:00:00Z", "quantity": "0.5", "properties": None},
    ]


def _write_contract_parquet(path, rows):
    pd.DataFrame(rows, columns=["event_id", "customer_id", "meter", "timestamp", "quantity", "properties"]
                 ).to_parquet(path, index=False)


def _kept_files(home):
    folder = home.warehouse_path.with_name(f"{home.warehouse_path.stem}_usage_files")
    return sorted(folder.glob("landed_date=*/file_id=*/rows.parquet"))


def test_contract_parquet_is_kept_as_landed_and_reads_like_loaded_rows(home, landing):
    import duckdb

    from dagster_project.ingest.landing import file_sha256

    path = landing / "k.parquet"
    _write_contract_parquet(path, _contract_rows())
    with connect(home.warehouse_path) as con:
        result = ingest_day(con, home.landing_usage_dir, DAY)
        kept = con.execute("select * exclude (ingested_at) from raw.usage_events order by line_number").fetchall()
        lines_table = con.execute("select count(*) from raw.usage_event_lines").fetchone()[0]
    # The same file loaded row by row (an in-memory warehouse keeps no files).
    memory = duckdb.connect()
    ingest_day(memory, home.landing_usage_dir, DAY)
    loaded = memory.execute("select * exclude (ingested_at) from raw.usage_events order by line_number").fetchall()
    assert memory.execute("select count(*) from raw.usage_event_lines").fetchone()[0] == 3

    assert result.lines_loaded == 3 and lines_table == 0
    assert kept == loaded
    files = _kept_files(home)
    assert [f.parent.name for f in files] == [f"file_id={file_sha256(path)}"]
    assert files[0].read_bytes() == path.read_bytes()


def test_a_kept_file_counts_only_once_its_load_commits(home, landing, monkeypatch):
    """A load that fails after copying the file (a crash before the manifest commit) leaves the
    copy unread; the next load keeps it again and every row counts once."""
    from dagster_project.ingest import landing as landing_module

    _write_contract_parquet(landing / "k.parquet", _contract_rows())
    keep = landing_module._keep_parquet_file

    def keep_then_fail(*args):
        keep(*args)
        raise OSError("disk gone after the copy")

    monkeypatch.setattr(landing_module, "_keep_parquet_file", keep_then_fail)
    with connect(home.warehouse_path) as con, pytest.raises(OSError):
        ingest_day(con, home.landing_usage_dir, DAY)
    assert len(_kept_files(home)) == 1
    assert _rows(home, "select count(*) from raw.usage_events") == [(0,)]
    assert _rows(home, "select count(*) from raw.landing_manifest") == [(0,)]

    monkeypatch.setattr(landing_module, "_keep_parquet_file", keep)
    with connect(home.warehouse_path) as con:
        again = ingest_day(con, home.landing_usage_dir, DAY)
    assert (again.files_loaded, again.lines_loaded) == (1, 3)
    assert _rows(home, "select count(*), count(distinct line_number) from raw.usage_events") == [(3, 3)]


def test_a_day_filter_opens_only_that_days_kept_files(home, landing):
    """Reading one landing day must not read the files of every other day (history)."""
    next_day = date(2026, 11, 21)
    other = home.landing_usage_dir / f"dt={next_day}"
    other.mkdir(parents=True)
    _write_contract_parquet(landing / "k.parquet", _contract_rows())
    _write_contract_parquet(other / "k.parquet", _contract_rows()[:1])
    with connect(home.warehouse_path) as con:
        ingest_day(con, home.landing_usage_dir, DAY)
        ingest_day(con, home.landing_usage_dir, next_day)
    # (DuckDB reads the first file's schema to bind the view, so the later day is spoiled.)
    later_file = next(f for f in _kept_files(home) if f"landed_date={next_day}" in str(f))
    later_file.write_bytes(b"not parquet any more")  # reading it now fails loudly

    assert _rows(home, f"select count(*) from raw.usage_events where landed_date = date '{DAY}'") == [(3,)]
    with pytest.raises(Exception, match="magic bytes"):
        _rows(home, f"select count(*) from raw.usage_events where landed_date = date '{next_day}'")


def test_a_warehouse_that_loaded_every_line_keeps_its_lines(home):
    """Before Parquet files were kept, raw.usage_events was the lines table itself."""
    from dagster_project.warehouse import USAGE_LINE_COLUMNS, ensure_raw_schema

    with connect(home.warehouse_path) as con:
        con.execute("create schema raw")
        con.execute(f"create table raw.usage_events {USAGE_LINE_COLUMNS}")
        con.execute("insert into raw.usage_events (file_id, source_file, landed_date, line_number, "
                    "event_id, ingested_at) values ('f', 'dt=2026-11-20/a.ndjson', date '2026-11-20', 1, "
                    "'e1', timestamp '2026-11-20 00:00:00')")
        ensure_raw_schema(con)
        ensure_raw_schema(con)  # and again: nothing left to move
    assert _rows(home, "select event_id from raw.usage_events") == [("e1",)]
    assert _rows(home, "select table_type from information_schema.tables "
                       "where table_schema = 'raw' and table_name = 'usage_events'") == [("VIEW",)]
