"""Progress lines for long work (many files, many meter events), in the run's log.

``get_dagster_logger`` writes into the Dagster event log when called inside a run and to the
Python logger ``dagster.builtin.<name>`` outside one (tests, the CLI).
"""

from __future__ import annotations

import logging
import sys
import time


def _logger(name: str) -> logging.Logger:
    """Dagster's logger when Dagster is loaded (inside a run it writes to the event log);
    otherwise the Python logger it would return outside a run, without importing Dagster:
    that import alone cost 0.75 s of a 2 s benchmark ingest of 10M events."""
    if "dagster" in sys.modules:
        from dagster import get_dagster_logger

        return get_dagster_logger(name)
    return logging.getLogger(f"dagster.builtin.{name}")


class Progress:
    """Logs "<what>: done/total <unit> (rate/s, extra)" every ``every`` items or ``seconds``,
    and once at the end."""

    def __init__(self, what: str, total: int, unit: str, every: int = 50, seconds: float = 15.0,
                 logger_name: str = "tollgate.progress"):
        self.what, self.total, self.unit = what, total, unit
        self.every, self.seconds = every, seconds
        self.log = _logger(logger_name)
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
