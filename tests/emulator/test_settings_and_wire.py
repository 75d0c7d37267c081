"""Settings from the environment, the form decoder, billing periods, and the blocking server."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dagster_project.stripe_emulator.periods import period_at
from dagster_project.stripe_emulator.settings import EmulatorSettings, env_var_names
from dagster_project.stripe_emulator.wire import decode_form

REPO = Path(__file__).resolve().parents[2]


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_settings_from_env() -> None:
    env = {
        "TOLLGATE_EMULATOR_DROP_AFTER_COMMIT_RATE": "0.25",
        "TOLLGATE_EMULATOR_REJECT_OUT_OF_WINDOW_TIMESTAMPS": "false",
        "TOLLGATE_EMULATOR_NOW": "1790000000",
        "TOLLGATE_EMULATOR_FAULT_PATH_PREFIX": "/v1/",
        "TOLLGATE_EMULATOR_IDENTIFIER_WINDOW_SECONDS": "3600",
        "UNRELATED": "x",
    }
    settings = EmulatorSettings.from_env(env, fault_seed=3)
    assert settings.drop_after_commit_rate == 0.25
    assert settings.reject_out_of_window_timestamps is False
    assert settings.now == 1790000000.0
    assert settings.fault_path_prefix == "/v1/"
    assert settings.identifier_window_seconds == 3600
    assert settings.fault_seed == 3
    assert settings.duplicate_identifier_code == "duplicate_meter_event"
    assert env_var_names()["slow_rate"] == "TOLLGATE_EMULATOR_SLOW_RATE"
    with pytest.raises(ValueError, match="TOLLGATE|must be a float"):
        EmulatorSettings.from_env({"TOLLGATE_EMULATOR_SLOW_RATE": "often"})
    with pytest.raises(ValueError, match="unknown emulator setting"):
        EmulatorSettings().updated({"nope": 1})


def test_decode_form_brackets_and_arrays() -> None:
    decoded = decode_form(
        "items[0][price]=p1&items[1][price]=p2&items[1][quantity]=2"
        "&metadata[a]=1&metadata[b]=&expand[]=x&expand[]=y"
        "&created%5Bgte%5D=5&tiers[][up_to]=10&tiers[][unit_amount]=3&tiers[][up_to]=inf"
    )
    assert decoded == {
        "items": {"0": {"price": "p1"}, "1": {"price": "p2", "quantity": "2"}},
        "metadata": {"a": "1", "b": ""},
        "expand": {"0": "x", "1": "y"},
        "created": {"gte": "5"},
        "tiers": {"0": {"up_to": "10", "unit_amount": "3"}, "1": {"up_to": "inf"}},
    }


def test_monthly_periods_clamp_to_month_end() -> None:
    anchor = ts(2026, 1, 31, 12)
    assert period_at(anchor, anchor, "month", 1, ts(2026, 3, 1)) == (
        ts(2026, 2, 28, 12),
        ts(2026, 3, 31, 12),
    )
    assert period_at(anchor, anchor, "month", 3, ts(2026, 5, 1)) == (
        ts(2026, 4, 30, 12),
        ts(2026, 7, 31, 12),
    )
    start = anchor - 86400
    assert period_at(start, anchor, "week", 1, anchor - 1) == (start, anchor)


# "ignored": the process starts with SIGINT ignored, as a background job of a non-interactive
# shell does (e.g. `make test &` in a script): the handler Python would install is not there.
@pytest.mark.parametrize("sigint_at_start", ["default", "ignored"])
def test_serve_forever_stops_cleanly_on_ctrl_c(tmp_path: Path, sigint_at_start: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import signal; from pathlib import Path; from dagster_project.stripe_emulator.server "
        "import EmulatorServer; "
        + ("signal.signal(signal.SIGINT, signal.SIG_IGN); " if sigint_at_start == "ignored" else "")
        + f"EmulatorServer(Path({str(tmp_path)!r}), port={port}).serve_forever()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60  # an upper bound for a loaded machine, not a wait
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/__emulator/health", timeout=1
                ) as r:
                    assert json.loads(r.read())["ok"] is True
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "stripe_emulator.sqlite3").exists()
