"""The DuckDB warehouse file: connections and the tables Python writes (raw, push log).

dbt owns everything downstream of ``raw``/``raw_stripe``; Python owns those two schemas and the
push log. DuckDB allows one writing process at a time, so every helper here opens a connection
for the duration of one piece of work and closes it before dbt runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

RAW_DDL = """
create schema if not exists raw;
create table if not exists raw.landing_manifest (
    file_id        varchar primary key,   -- sha256 of the file's bytes: re-landing is a no-op
    source_file    varchar not null,      -- path relative to the landing root
    landed_date    date not null,         -- the dt=YYYY-MM-DD folder the file landed in
    file_format    varchar not null,      -- ndjson | ndjson.gz | parquet
    size_bytes     bigint not null,
    line_count     bigint not null,       -- lines (rows) landed; every one is in raw.usage_events
    loaded_at      timestamp not null
);
create table if not exists raw.landing_duplicate_files (
    source_file    varchar not null,
    file_id        varchar not null,      -- the manifest entry it duplicates
    landed_date    date not null,
    seen_at        timestamp not null
);
create table if not exists raw.usage_events (
    file_id          varchar not null,
    source_file      varchar not null,
    landed_date      date not null,
    line_number      bigint not null,
    raw_line         varchar,            -- the line as landed (Parquet rows: as JSON; null when
                                         -- the fields below rebuild it: usage_line_as_landed)
    parse_error      varchar,            -- null | malformed_json | not_an_object | invalid_encoding
    event_id         varchar,            -- fields below are text as found; dbt types them
    customer_id      varchar,
    meter            varchar,
    event_timestamp  varchar,
    quantity         varchar,
    properties       varchar,
    ingested_at      timestamp not null
);
create schema if not exists raw_stripe;
"""


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        # Timestamps are UTC everywhere; never let the machine's zone leak into a cast.
        con.execute("set TimeZone = 'UTC'")
        # The same cap as dbt's profile: DuckDB spills to disk rather than grow past it.
        con.execute("set memory_limit = ?", [os.environ.get("TOLLGATE_DUCKDB_MEMORY_LIMIT", "80%")])
        yield con
    finally:
        con.close()


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """raw (landing) and raw_finance (grants, payments, refunds, credit notes): dbt's sources
    must exist before any build, whether or not finance facts have arrived yet."""
    from dagster_project.ledger.finance_inputs import RAW_FINANCE_DDL

    con.execute(RAW_DDL)
    con.execute(RAW_FINANCE_DDL)
