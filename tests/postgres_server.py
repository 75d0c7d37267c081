"""A PostgreSQL server for the portability tests.

Uses an already running server when TOLLGATE_PG_HOST is set (with TOLLGATE_PG_PORT,
TOLLGATE_PG_USER, TOLLGATE_PG_PASSWORD; the user must be allowed to create databases).
Otherwise starts a throwaway cluster with Debian's binaries (initdb + pg_ctl) on 127.0.0.1 and a
free port, as the `postgres` user when running as root (initdb refuses root), and stops it
afterwards. Without PostgreSQL binaries: a loud failure in CI (CI=true), else a skip with the
reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str

    def connect(self, dbname: str = "postgres"):
        import psycopg2

        con = psycopg2.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, dbname=dbname)
        con.autocommit = True
        return con

    def create_database(self, name: str) -> str:
        con = self.connect()
        try:
            with con.cursor() as cur:
                cur.execute(f'drop database if exists "{name}"')
                cur.execute(f'create database "{name}"')
        finally:
            con.close()
        return name

    def dbt_env(self, dbname: str) -> dict[str, str]:
        """What dbt/profiles.yml's `postgres` target reads."""
        return {
            "TOLLGATE_DBT_TARGET": "postgres", "TOLLGATE_PG_HOST": self.host,
            "TOLLGATE_PG_PORT": str(self.port), "TOLLGATE_PG_USER": self.user,
            "TOLLGATE_PG_PASSWORD": self.password, "TOLLGATE_PG_DATABASE": dbname,
        }


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL portability tests cannot run in CI: {reason}. "
                    "Install Debian's `postgresql` (.ci/run does) or set TOLLGATE_PG_HOST.")
    print(f"\nskipping PostgreSQL tests: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@contextmanager
def postgres_server() -> Iterator[PgServer]:
    if os.environ.get("TOLLGATE_PG_HOST"):
        yield PgServer(
            os.environ["TOLLGATE_PG_HOST"], int(os.environ.get("TOLLGATE_PG_PORT", "5432")),
            os.environ.get("TOLLGATE_PG_USER", "postgres"), os.environ.get("TOLLGATE_PG_PASSWORD", ""),
        )
        return
    bin_dir = _pg_bin()
    if bin_dir is None:
        _unavailable("no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as `postgres`
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            _unavailable("running as root without a `postgres` user to run the cluster")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="tollgate-pg-"))
    root.chmod(0o755)
    data = root / "data"
    port = _free_port()
    if as_user:
        shutil.chown(root, "postgres", "postgres")

    def run(*cmd: str) -> None:
        proc = subprocess.run([*as_user, *cmd], capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
        "--encoding=UTF8", "--no-sync")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
        "-o", f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off", "start")
    try:
        yield PgServer("127.0.0.1", port, "postgres", "")
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
