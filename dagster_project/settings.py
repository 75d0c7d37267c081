"""Paths and environment, read in one place.

Everything the pipeline touches on disk lives under ``$TOLLGATE_HOME`` (default ``./.tollgate``).
Secrets (``STRIPE_API_KEY``) are read here but never logged or put in metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

# Any key the emulator accepts; used only when no STRIPE_API_KEY is configured.
EMULATOR_API_KEY = "sk_test_tollgate_emulator"
# First day of the daily partitions (the landing folders dt=YYYY-MM-DD).
DEFAULT_PARTITION_START = "2026-01-01"


@dataclass(frozen=True)
class Settings:
    home: Path

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def landing_usage_dir(self) -> Path:
        return self.home / "landing" / "usage"

    @property
    def emulator_state_dir(self) -> Path:
        return self.home / "stripe_emulator"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"


def tollgate_home() -> Path:
    home = Path(os.environ.get("TOLLGATE_HOME", "./.tollgate")).resolve()
    # dbt (a subprocess) reads the same variable in profiles.yml: give it the absolute path.
    os.environ["TOLLGATE_HOME"] = str(home)
    return home


def get_settings() -> Settings:
    return Settings(home=tollgate_home())


def partition_start_date() -> str:
    return os.environ.get("TOLLGATE_PARTITION_START", DEFAULT_PARTITION_START)
