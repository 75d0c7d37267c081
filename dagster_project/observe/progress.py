"""Progress lines for long work (many files, many meter events), in the run's log.

``get_dagster_logger`` writes into the Dagster event log when called inside a run and to the
Python logger ``dagster.builtin.<name>`` outside one (tests, the CLI).
"""

from __future__ import annotations

import time

from dagster import get_dagster_logger


class Progress:
    """Logs "<what>: done/total <unit> (rate/s, extra)" every ``every`` items or ``seconds``,
    and once at the end."""

    def __init__(self, what: str, total: int, unit: str, every: int = 50, seconds: float = 15.0,
                 logger_name: str = "tollgate.progress"):
        self.what, self.total, self.unit = what, total, unit
        self.every, self.seconds = every, seconds
        self.log = get_dagster_logger(logger_name)
        self.started = self.last = time.monotonic()
        self.done = 0
        self.last_logged = 0

    def advance(self, n: int = 1, extra: str = "") -> None:
        self.done += n
        now = time.monotonic()
        if self.done >= self.total or self.done - self.last_logged >= self.every or now - self.last >= self.seconds:
            self._log(extra, now)

    def _log(self, extra: str, now: float) -> None:
        elapsed = max(now - self.started, 1e-6)
        rate = self.done / elapsed
        self.log.info(
            f"{self.what}: {self.done}/{self.total} {self.unit} ({rate:.1f}/s, {elapsed:.1f} s)"
            + (f", {extra}" if extra else "")
        )
        self.last, self.last_logged = now, self.done
