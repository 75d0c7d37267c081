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

# One row per landed line, fields as text (dbt types them). On PostgreSQL this is the table
# raw.usage_events itself; on DuckDB it is raw.usage_event_lines, one half of that view.
USAGE_LINE_COLUMNS = """(
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
)"""
USAGE_LINE_NAMES = ("file_id, source_file, landed_date, line_number, raw_line, parse_error, event_id, "
                    "customer_id, meter, event_timestamp, quantity, properties, ingested_at")

LANDING_DDL = """
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
create schema if not exists raw_stripe;
"""

# The raw tables as a server warehouse (PostgreSQL) holds them: every line in one table.
RAW_DDL = LANDING_DDL + f"create table if not exists raw.usage_events {USAGE_LINE_COLUMNS};\n"

# DuckDB keeps a Parquet file in the event contract's layout as it landed, byte for byte, under
# <warehouse>_usage_files/landed_date=<day>/file_id=<sha256>/rows.parquet: its rows are not
# written again (loading 10M rows into a table cost twice the whole floor query). The file is
# named by its sha256, so a rerun rewrites the same bytes; it counts only once the manifest
# entry that names it is committed, so a file copied by a load that then failed is never read.
KEPT_FILE_NAME = "rows.parquet"


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

    con.execute(LANDING_DDL)
    # Warehouses made before Parquet files were kept held every line in raw.usage_events.
    if con.execute(
        "select 1 from duckdb_tables() where schema_name = 'raw' and table_name = 'usage_events'"
    ).fetchone():
        con.execute("alter table raw.usage_events rename to usage_event_lines")
    con.execute(f"create table if not exists raw.usage_event_lines {USAGE_LINE_COLUMNS}")
    refresh_usage_events_view(con)
    con.execute(RAW_FINANCE_DDL)


def kept_usage_files_dir(con: duckdb.DuckDBPyConnection) -> Path | None:
    """Where this warehouse keeps landed Parquet files; None for an in-memory database."""
    path = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()[0]
    if not path:
        return None
    path = Path(path).resolve()
    return path.with_name(f"{path.stem}_usage_files")


def refresh_usage_events_view(con: duckdb.DuckDBPyConnection) -> None:
    """raw.usage_events: the lines loaded one by one, and the rows of every kept Parquet file.

    The kept files are read through their manifest entries (a file without one was copied by a
    load that did not commit) and their folder names, so a filter on landed_date opens only
    that day's files."""
    branches = [f"select {USAGE_LINE_NAMES} from raw.usage_event_lines"]
    folder = kept_usage_files_dir(con)
    if folder is not None and any(folder.glob(f"landed_date=*/file_id=*/{KEPT_FILE_NAME}")):
        pattern = str(folder / "*" / "*" / KEPT_FILE_NAME).replace("'", "''")
        branches.append(f"""
select m.file_id, m.source_file, f.landed_date, f.file_row_number + 1 as line_number,
       null::varchar as raw_line, null::varchar as parse_error, f.event_id, f.customer_id,
       f.meter, f."timestamp" as event_timestamp, f.quantity, f.properties,
       m.loaded_at as ingested_at
from read_parquet('{pattern}', hive_partitioning = true, file_row_number = true,
                  hive_types = {{'landed_date': date, 'file_id': varchar}}) as f
join raw.landing_manifest as m on m.file_id = f.file_id""")
    con.execute("create or replace view raw.usage_events as " + "\nunion all\n".join(branches))
