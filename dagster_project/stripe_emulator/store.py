"""The emulator's state in SQLite: API objects, meter events, their async errors, idempotency keys.

One connection, used under one lock; each request's changes are one transaction, so a request
that fails part-way leaves nothing behind. ``path=None`` keeps everything in memory.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_FILENAME = "stripe_emulator.sqlite3"

_SCHEMA = """
create table if not exists objects (
    seq integer primary key autoincrement,
    id text not null unique,
    kind text not null,
    parent text,
    created integer not null,
    data text not null
);
create index if not exists objects_kind on objects (kind, created, seq);
create index if not exists objects_parent on objects (parent);

create table if not exists meter_events (
    seq integer primary key autoincrement,
    event_name text not null,
    identifier text not null,
    timestamp integer not null,
    received_at real not null,
    processed_at real not null,
    payload text not null,
    meter_id text,
    customer text,
    value text,
    status text not null,          -- 'ok' counts; 'error' never does
    error_code text,
    cancelled_at real,
    response text not null,         -- the billing.meter_event object returned
    api text not null default 'v1'  -- 'v1' (one event per request) or 'stream' (v2, batched)
);
create index if not exists meter_events_identifier on meter_events (identifier, received_at);
create index if not exists meter_events_usage on meter_events (meter_id, customer, timestamp);

create table if not exists meter_event_errors (
    seq integer primary key autoincrement,
    created real not null,
    code text not null,
    message text not null,
    event_name text,
    identifier text,
    meter_id text
);

-- v2 meter event sessions. Only a hash of the token is kept: it is a credential.
create table if not exists meter_event_sessions (
    id text primary key,
    token_sha256 text not null unique,
    api_key text not null,          -- the account's key that created it (idempotency scope)
    created real not null,
    expires_at real not null
);

-- Running counts the stream's asynchronous handling leaves behind (e.g. duplicates ignored).
create table if not exists counters (
    name text primary key,
    value integer not null
);

create table if not exists idempotency_keys (
    api_key text not null,
    key text not null,
    fingerprint text not null,
    created real not null,
    status integer not null,
    headers text not null,
    body blob not null,
    primary key (api_key, key)
);
"""

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass
class Row:
    """An object with its place in Stripe's newest-first order."""

    created: int
    seq: int
    obj: dict[str, Any]


@dataclass
class MeterEvent:
    seq: int
    event_name: str
    identifier: str
    timestamp: int
    received_at: float
    processed_at: float
    payload: dict[str, str]
    meter_id: str | None
    customer: str | None
    value: str | None
    status: str
    error_code: str | None
    cancelled_at: float | None
    response: dict[str, Any]
    api: str = "v1"


@dataclass
class MeterEventSession:
    id: str
    api_key: str
    created: float
    expires_at: float


@dataclass
class StoredResponse:
    fingerprint: str
    created: float
    status: int
    headers: dict[str, str]
    body: bytes


class Store:
    def __init__(self, state_dir: Path | None) -> None:
        if state_dir is None:
            target = ":memory:"
        else:
            state_dir = Path(state_dir)
            state_dir.mkdir(parents=True, exist_ok=True)
            target = str(state_dir / DB_FILENAME)
        self.path = None if state_dir is None else Path(target)
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        with self.lock:
            if state_dir is not None:
                self._conn.execute("pragma journal_mode=wal")
                self._conn.execute("pragma synchronous=normal")
            self._conn.executescript(_SCHEMA)
            self._migrate()
        self._depth = 0

    def _migrate(self) -> None:
        """State written before the stream existed lacks meter_events.api: add it (all v1)."""
        columns = {r["name"] for r in self._conn.execute("pragma table_info(meter_events)")}
        if "api" not in columns:
            self._conn.execute("alter table meter_events add column api text not null default 'v1'")

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All changes inside are committed together, or not at all. Re-entrant."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("begin immediate")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("rollback")
                raise
            else:
                self._conn.execute("commit")
            finally:
                self._depth = 0

    # -- API objects ------------------------------------------------------------------------------

    def insert(self, kind: str, obj: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
        with self.lock:
            self._conn.execute(
                "insert into objects (id, kind, parent, created, data) values (?, ?, ?, ?, ?)",
                (obj["id"], kind, parent, int(obj["created"]), json.dumps(obj)),
            )
        return obj

    def save(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            cur = self._conn.execute(
                "update objects set data = ? where id = ? and kind = ?",
                (json.dumps(obj), obj["id"], kind),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no {kind} {obj['id']} to update")
        return obj

    def delete(self, kind: str, object_id: str) -> None:
        with self.lock:
            self._conn.execute("delete from objects where id = ? and kind = ?", (object_id, kind))

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self._conn.execute(
                "select data from objects where id = ? and kind = ?", (object_id, kind)
            ).fetchone()
        return None if row is None else json.loads(row["data"])

    def kind_of(self, object_id: str) -> str | None:
        with self.lock:
            row = self._conn.execute(
                "select kind from objects where id = ?", (object_id,)
            ).fetchone()
        return None if row is None else row["kind"]

    def position(self, object_id: str) -> tuple[int, int] | None:
        """(created, seq) of an object, for list cursors."""
        with self.lock:
            row = self._conn.execute(
                "select created, seq from objects where id = ?", (object_id,)
            ).fetchone()
        return None if row is None else (row["created"], row["seq"])

    def rows(self, kind: str, parent: str | None = None, oldest_first: bool = False) -> list[Row]:
        """Every object of a kind (optionally under one parent), newest first (or oldest first)."""
        sql = "select created, seq, data from objects where kind = ?"
        args: list[Any] = [kind]
        if parent is not None:
            sql += " and parent = ?"
            args.append(parent)
        sql += " order by seq" if oldest_first else " order by created desc, seq desc"
        with self.lock:
            fetched = self._conn.execute(sql, args).fetchall()
        return [Row(r["created"], r["seq"], json.loads(r["data"])) for r in fetched]

    def children(self, kind: str, parent: str) -> list[dict[str, Any]]:
        """Objects under a parent in the order they were added (oldest first)."""
        with self.lock:
            fetched = self._conn.execute(
                "select data from objects where kind = ? and parent = ? order by seq",
                (kind, parent),
            ).fetchall()
        return [json.loads(r["data"]) for r in fetched]

    # -- meter events -----------------------------------------------------------------------------

    def insert_meter_event(self, event: MeterEvent) -> None:
        self.insert_meter_events([event])

    def insert_meter_events(self, events: list[MeterEvent]) -> None:
        with self.lock:
            self._conn.executemany(
                """insert into meter_events (event_name, identifier, timestamp, received_at,
                   processed_at, payload, meter_id, customer, value, status, error_code,
                   cancelled_at, response, api) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    (
                        event.event_name,
                        event.identifier,
                        event.timestamp,
                        event.received_at,
                        event.processed_at,
                        json.dumps(event.payload),
                        event.meter_id,
                        event.customer,
                        event.value,
                        event.status,
                        event.error_code,
                        event.cancelled_at,
                        json.dumps(event.response),
                        event.api,
                    )
                    for event in events
                ],
            )

    def identifiers_received_since(self, identifiers: list[str], received_since: float) -> set[str]:
        """Which of ``identifiers`` already name an event received after ``received_since``."""
        found: set[str] = set()
        unique = list(dict.fromkeys(identifiers))
        with self.lock:
            for start in range(0, len(unique), 500):  # SQLite caps bound parameters per query
                chunk = unique[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                fetched = self._conn.execute(
                    f"select distinct identifier from meter_events where identifier in ({marks})"
                    " and received_at > ?",
                    (*chunk, received_since),
                ).fetchall()
                found.update(r["identifier"] for r in fetched)
        return found

    def events_with_identifier(self, identifier: str, received_since: float) -> list[MeterEvent]:
        with self.lock:
            fetched = self._conn.execute(
                "select * from meter_events where identifier = ? and received_at > ? order by seq",
                (identifier, received_since),
            ).fetchall()
        return [_event(r) for r in fetched]

    def counted_events(
        self, meter_id: str, customer: str, start: int, end: int, processed_by: float
    ) -> list[MeterEvent]:
        """Events that count for a meter and customer with start <= timestamp < end."""
        with self.lock:
            fetched = self._conn.execute(
                """select * from meter_events where meter_id = ? and customer = ?
                   and timestamp >= ? and timestamp < ? and status = 'ok'
                   and cancelled_at is null and processed_at <= ? order by timestamp, seq""",
                (meter_id, customer, start, end, processed_by),
            ).fetchall()
        return [_event(r) for r in fetched]

    def cancel_meter_event(self, seq: int, when: float) -> None:
        with self.lock:
            self._conn.execute(
                "update meter_events set cancelled_at = ? where seq = ?", (when, seq)
            )

    def meter_events(
        self,
        event_name: str | None = None,
        customer: str | None = None,
        identifier: str | None = None,
    ) -> list[MeterEvent]:
        sql, args = "select * from meter_events where 1 = 1", []
        for column, value in (
            ("event_name", event_name),
            ("customer", customer),
            ("identifier", identifier),
        ):
            if value is not None:
                sql += f" and {column} = ?"
                args.append(value)
        with self.lock:
            fetched = self._conn.execute(sql + " order by seq", args).fetchall()
        return [_event(r) for r in fetched]

    def record_meter_event_error(
        self,
        created: float,
        code: str,
        message: str,
        event_name: str | None,
        identifier: str | None,
        meter_id: str | None,
    ) -> None:
        with self.lock:
            self._conn.execute(
                """insert into meter_event_errors (created, code, message, event_name, identifier,
                   meter_id) values (?, ?, ?, ?, ?, ?)""",
                (created, code, message, event_name, identifier, meter_id),
            )

    def meter_event_errors(self) -> list[dict[str, Any]]:
        with self.lock:
            fetched = self._conn.execute("select * from meter_event_errors order by seq").fetchall()
        return [dict(r) for r in fetched]

    # -- v2 meter event sessions and counters ------------------------------------------------------

    def insert_session(self, session: MeterEventSession, token_sha256: str) -> None:
        with self.lock:
            self._conn.execute(
                "insert into meter_event_sessions (id, token_sha256, api_key, created, expires_at)"
                " values (?, ?, ?, ?, ?)",
                (session.id, token_sha256, session.api_key, session.created, session.expires_at),
            )

    def session_by_token(self, token_sha256: str) -> MeterEventSession | None:
        with self.lock:
            row = self._conn.execute(
                "select id, api_key, created, expires_at from meter_event_sessions"
                " where token_sha256 = ?",
                (token_sha256,),
            ).fetchone()
        return None if row is None else MeterEventSession(**dict(row))

    def expire_session(self, session_id: str, when: float) -> None:
        with self.lock:
            self._conn.execute(
                "update meter_event_sessions set expires_at = min(expires_at, ?) where id = ?",
                (when, session_id),
            )

    def add_to_counters(self, increments: dict[str, int]) -> None:
        with self.lock:
            self._conn.executemany(
                "insert into counters (name, value) values (?, ?) "
                "on conflict (name) do update set value = value + excluded.value",
                [(name, amount) for name, amount in increments.items() if amount],
            )

    def counters(self) -> dict[str, int]:
        with self.lock:
            fetched = self._conn.execute("select name, value from counters order by name").fetchall()
        return {r["name"]: r["value"] for r in fetched}

    # -- idempotency keys -------------------------------------------------------------------------

    def stored_response(self, api_key: str, key: str) -> StoredResponse | None:
        with self.lock:
            row = self._conn.execute(
                "select * from idempotency_keys where api_key = ? and key = ?", (api_key, key)
            ).fetchone()
        if row is None:
            return None
        return StoredResponse(
            row["fingerprint"],
            row["created"],
            row["status"],
            json.loads(row["headers"]),
            bytes(row["body"]),
        )

    def store_response(self, api_key: str, key: str, stored: StoredResponse) -> None:
        with self.lock:
            self._conn.execute(
                """insert or replace into idempotency_keys
                   (api_key, key, fingerprint, created, status, headers, body)
                   values (?, ?, ?, ?, ?, ?, ?)""",
                (
                    api_key,
                    key,
                    stored.fingerprint,
                    stored.created,
                    stored.status,
                    json.dumps(stored.headers),
                    stored.body,
                ),
            )

    def prune_responses(self, older_than: float) -> None:
        with self.lock:
            self._conn.execute("delete from idempotency_keys where created < ?", (older_than,))


def _event(row: sqlite3.Row) -> MeterEvent:
    return MeterEvent(
        seq=row["seq"],
        event_name=row["event_name"],
        identifier=row["identifier"],
        timestamp=row["timestamp"],
        received_at=row["received_at"],
        processed_at=row["processed_at"],
        payload=json.loads(row["payload"]),
        meter_id=row["meter_id"],
        customer=row["customer"],
        value=row["value"],
        status=row["status"],
        error_code=row["error_code"],
        cancelled_at=row["cancelled_at"],
        response=json.loads(row["response"]),
        api=row["api"],
    )
