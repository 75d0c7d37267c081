"""The emulator's clock: the wall clock, or a frozen time, shifted by tests without sleeping."""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen_at = start  # None: follow the wall clock
        self._offset = 0.0

    def now(self) -> float:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return time.time() + self._offset

    def now_int(self) -> int:
        return int(self.now())

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def advance(self, seconds: float) -> float:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
        return self.now()

    def set(self, unix: float) -> float:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = float(unix)
            else:
                self._offset = float(unix) - time.time()
        return self.now()
