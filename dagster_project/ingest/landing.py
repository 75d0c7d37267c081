"""Load usage files from the landing zone into ``raw.usage_events`` with DuckDB's own readers.

Layout: ``<landing root>/dt=YYYY-MM-DD/*.{ndjson,ndjson.gz,jsonl,parquet}`` where ``dt`` is the
UTC day the file landed. Every line of every file becomes exactly one row of
``raw.usage_events`` (unparseable lines are kept as text with a ``parse_error``); typing and
validation happen in dbt. A file whose bytes were already loaded (same sha256) is a no-op.
A Parquet file in the event contract's own layout is kept as it landed instead of being
loaded row by row (see KEPT_FILE_NAME in dagster_project.warehouse); its rows read the same.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dagster_project.warehouse import (
    KEPT_FILE_NAME,
    ensure_raw_schema,
    kept_usage_files_dir,
    refresh_usage_events_view,
)

log = logging.getLogger(__name__)

NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
PARQUET_SUFFIXES = (".parquet",)
EVENT_FIELDS = ("event_id", "customer_id", "meter", "timestamp", "quantity")

# A usage event is a few hundred bytes: a line over 1 MiB is quarantined as line_too_long
# rather than parsed (and billed) - it is far more likely an attack or a broken producer.
MAX_LINE_BYTES = 1 << 20

# One VARCHAR column per line. The delimiter is a control character: JSON forbids raw control
# characters, so a line containing one is malformed whatever the reader does with it.
_NDJSON_READER = """
read_csv(?, columns = {'line': 'VARCHAR'}, header = false, delim = '\x1f', quote = '',
         escape = '', auto_detect = false, strict_mode = false, max_line_size = 1048576,
         store_rejects = true, ignore_errors = true,
         rejects_table = 'tollgate_rejects', rejects_scan = 'tollgate_reject_scans')
"""

# Lines DuckDB could not read (invalid UTF-8, over-long) come back from its rejects table.
_REJECT_REASONS = {"INVALID ENCODING": "invalid_encoding", "LINE SIZE OVER MAXIMUM": "line_too_long"}


@dataclass
class FileResult:
    source_file: str
    status: str  # loaded | already_loaded
    lines: int = 0
    unreadable: int = 0


@dataclass
class DayIngestResult:
    landed_date: date
    files: list[FileResult] = field(default_factory=list)

    @property
    def files_loaded(self) -> int:
        return sum(f.status == "loaded" for f in self.files)

    @property
    def files_skipped(self) -> int:
        return sum(f.status == "already_loaded" for f in self.files)

    @property
    def lines_loaded(self) -> int:
        return sum(f.lines for f in self.files)


def day_folder(landing_root: Path, day: date) -> Path:
    return landing_root / f"dt={day.isoformat()}"


def discover_files(landing_root: Path, day: date) -> list[Path]:
    folder = day_folder(landing_root, day)
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.endswith(NDJSON_SUFFIXES + PARQUET_SUFFIXES)
    )


def file_sha256(path: Path, copy_to=None) -> str:
    """The file's sha256; with ``copy_to`` (a binary file object) its bytes are written there as
    they are hashed, so the hash names exactly the bytes copied."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            if copy_to is not None:
                copy_to.write(chunk)
    return digest.hexdigest()


def file_format(path: Path) -> str:
    name = path.name
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return "ndjson.gz" if name.endswith(".gz") else "ndjson"


def ingest_day(con: duckdb.DuckDBPyConnection, landing_root: Path, day: date) -> DayIngestResult:
    """Load every not-yet-loaded file landed on ``day``; one transaction per file."""
    ensure_raw_schema(con)
    from dagster_project.observe.progress import Progress

    result = DayIngestResult(landed_date=day)
    files = discover_files(landing_root, day)
    progress = Progress(f"ingest dt={day}", len(files), "files", every=50)
    for path in files:
        result.files.append(ingest_file(con, landing_root, path, day))
        progress.advance(extra=f"{result.lines_loaded} lines loaded, {result.files_skipped} already loaded")
    return result


def ingest_file(
    con: duckdb.DuckDBPyConnection, landing_root: Path, path: Path, day: date
) -> FileResult:
    source_file = path.relative_to(landing_root).as_posix()
    file_id = file_sha256(path)
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        already = con.execute(
            "select source_file from raw.landing_manifest where file_id = ?", [file_id]
        ).fetchone()
        if already:
            if already[0] != source_file:
                con.execute(
                    "insert into raw.landing_duplicate_files select ?, ?, ?, ? where not exists "
                    "(select 1 from raw.landing_duplicate_files where source_file = ? and file_id = ?)",
                    [source_file, file_id, day, now, source_file, file_id],
                )
            con.execute("commit")
            return FileResult(source_file, "already_loaded")
        fmt = file_format(path)
        if fmt == "parquet":
            lines, unreadable = _insert_parquet(con, path, file_id, source_file, day, now), 0
        else:
            lines, unreadable = _insert_ndjson(con, path, file_id, source_file, day, now)
        con.execute(
            "insert into raw.landing_manifest values (?, ?, ?, ?, ?, ?, ?)",
            [file_id, source_file, day, fmt, path.stat().st_size, lines, now],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return FileResult(source_file, "loaded", lines=lines, unreadable=unreadable)


def _field_sql(source: str) -> str:
    """Text fields pulled from a JSON object held in ``source`` (null when it did not parse)."""
    parts = [
        f"case when parse_error is null then json_extract_string({source}, '$.{name}') end"
        f" as {'event_timestamp' if name == 'timestamp' else name}"
        for name in EVENT_FIELDS
    ]
    parts.append(
        f"case when parse_error is null then cast(json(json_extract({source}, '$.properties')) as varchar)"
        " end as properties"
    )
    return ",\n        ".join(parts)


def _insert_ndjson(con, path: Path, file_id: str, source_file: str, day: date, now: datetime):
    con.execute("drop table if exists tollgate_rejects")
    con.execute("drop table if exists tollgate_reject_scans")
    con.execute(
        f"create or replace temp table tollgate_readable as "
        f"select row_number() over () as k, line from {_NDJSON_READER}",
        [str(path)],
    )
    rejects = con.execute(
        "select line, error_type, csv_line from tollgate_rejects order by line"
    ).fetchall()
    con.execute(
        "create or replace temp table tollgate_rejected (line_number bigint, reason varchar, line varchar)"
    )
    if rejects:
        con.executemany(
            "insert into tollgate_rejected values (?, ?, ?)",
            [(n, _REJECT_REASONS.get(t, "unreadable_line"), text) for n, t, text in rejects],
        )
    # Readable lines keep their order; their file line numbers are the numbers not rejected.
    counted = con.execute(
        f"""
        insert into raw.usage_event_lines
        with numbers as (
            select range + 1 as line_number
            from range((select count(*) from tollgate_readable) + (select count(*) from tollgate_rejected))
        ),
        readable_numbers as (
            select line_number, row_number() over (order by line_number) as k
            from numbers
            where line_number not in (select line_number from tollgate_rejected)
        ),
        lines as (
            select n.line_number, r.line, null::varchar as reject_reason
            from readable_numbers n join tollgate_readable r using (k)
            union all
            select line_number, line, reason from tollgate_rejected
        ),
        parsed as (
            select
                line_number,
                line,
                case
                    when reject_reason is not null then reject_reason
                    when line is null or trim(line) = '' then 'empty_line'
                    when not json_valid(line) then 'malformed_json'
                    when json_type(line) <> 'OBJECT' then 'not_an_object'
                end as parse_error
            from lines
        )
        select
            ? as file_id, ? as source_file, ? as landed_date, line_number, line as raw_line,
            parse_error,
            {_field_sql("line")},
            ? as ingested_at
        from parsed
        order by line_number
        """,
        [file_id, source_file, day, now],
    ).fetchone()[0]  # rows inserted: counting them again would scan every earlier day
    return counted, len(rejects)


def _insert_parquet(con, path: Path, file_id: str, source_file: str, day: date, now: datetime):
    # hive_partitioning off: the dt=... folder is where the file landed, not a field of its rows.
    columns = {
        name: dtype
        for name, dtype, *_ in con.execute(
            "describe select * from read_parquet(?, hive_partitioning = false)", [str(path)]
        ).fetchall()
    }

    def text(name: str) -> str:
        if name not in columns:
            return "null::varchar"
        dtype = columns[name].upper()
        if dtype == "TIMESTAMP WITH TIME ZONE":
            return f"strftime(t.\"{name}\" at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')"
        if dtype.startswith(("STRUCT", "MAP")) or dtype.endswith("[]"):
            return f"cast(to_json(t.\"{name}\") as varchar)"
        if name == "properties":  # JSON text: minified like the NDJSON path, so copies compare equal
            col = f"cast(t.\"{name}\" as varchar)"
            return f"case when json_valid({col}) then cast(json({col}) as varchar) else {col} end"
        # Naive TIMESTAMP casts to text without an offset and is quarantined as invalid_timestamp.
        return f"cast(t.\"{name}\" as varchar)"

    rebuildable = _rebuildable_from_fields(columns)
    if rebuildable:
        kept = _keep_parquet_file(con, path, file_id, day)
        if kept is not None:
            return kept

    row_fields = ", ".join(f'"{name}" := t."{name}"' for name in columns)
    row_as_json = f"cast(to_json(struct_pack({row_fields})) as varchar)"
    if rebuildable:
        # The text fields hold the whole row verbatim, so stg_usage__events rebuilds the same
        # JSON text from them (usage_line_as_landed); writing it here as well doubled the
        # cost of loading the file. Only a properties text that was minified on the way in
        # keeps its own copy of the row.
        raw_line = (f"case when t.properties is null or {text('properties')} = t.properties "
                    f"then null else {row_as_json} end")
    else:
        raw_line = row_as_json
    # No `order by`: the table keeps the file's row order on insert, and line_number says it.
    inserted = con.execute(
        f"""
        insert into raw.usage_event_lines
        select
            ? as file_id, ? as source_file, ? as landed_date,
            t.file_row_number + 1 as line_number,
            {raw_line} as raw_line,
            null as parse_error,
            {text("event_id")} as event_id,
            {text("customer_id")} as customer_id,
            {text("meter")} as meter,
            {text("timestamp")} as event_timestamp,
            {text("quantity")} as quantity,
            {text("properties")} as properties,
            ? as ingested_at
        from read_parquet(?, file_row_number = true, hive_partitioning = false) as t
        """,
        [file_id, source_file, day, now, str(path)],
    ).fetchone()[0]
    return inserted


def _keep_parquet_file(con, path: Path, file_id: str, day: date) -> int | None:
    """Keep the file as it landed; its row count. None when its rows must be loaded one by one:
    an in-memory warehouse, or a properties text the NDJSON path would minify (the loaded row
    then keeps its original text as raw_line)."""
    folder = kept_usage_files_dir(con)
    if folder is None:
        return None
    (not_minified,) = con.execute(
        "select count(*) from read_parquet(?, hive_partitioning = false) "
        "where properties is not null and json_valid(properties) "
        "and cast(json(properties) as varchar) <> properties",
        [str(path)],
    ).fetchone()
    if not_minified:
        return None
    target = folder / f"landed_date={day.isoformat()}" / f"file_id={file_id}" / KEPT_FILE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(KEPT_FILE_NAME + ".partial")  # not matched by the view's glob
    # Hashed as copied: the kept bytes are the ones the file_id names, even if a producer
    # rewrote the landing file after it was first hashed.
    with partial.open("wb") as dst:
        copied_sha256 = file_sha256(path, copy_to=dst)
        dst.flush()
        os.fsync(dst.fileno())  # on disk before the manifest entry that makes it count
    if copied_sha256 != file_id:
        partial.unlink()
        raise RuntimeError(f"{path.name} changed while it was being loaded; load it again")
    os.replace(partial, target)
    refresh_usage_events_view(con)
    return con.execute(
        "select count(*) from read_parquet(?, hive_partitioning = false)", [str(target)]
    ).fetchone()[0]


# The Parquet layout whose rows stg_usage__events can rebuild as JSON from raw.usage_events'
# text columns: exactly the contract's columns, in this order, all text.
REBUILDABLE_PARQUET_COLUMNS = (*EVENT_FIELDS, "properties")


def _rebuildable_from_fields(columns: dict[str, str]) -> bool:
    return tuple(columns) == REBUILDABLE_PARQUET_COLUMNS and all(
        dtype.upper() == "VARCHAR" for dtype in columns.values()
    )
