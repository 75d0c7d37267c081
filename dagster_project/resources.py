"""Dagster resources: the warehouse file and the Stripe connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import stripe
from dagster import ConfigurableResource

from dagster_project import stripe_client as stripe_client_module
from dagster_project.settings import get_settings
from dagster_project.warehouse import connect


class WarehouseResource(ConfigurableResource):
    """The DuckDB warehouse file. ``home`` defaults to $TOLLGATE_HOME, read when used."""

    home: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.home) / "warehouse.duckdb" if self.home else get_settings().warehouse_path

    @contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.path, read_only=read_only) as con:
            yield con


class StripeResource(ConfigurableResource):
    """Stripe through the official SDK. ``api_key`` is only ever an EnvVar (never a literal),
    so the UI shows the variable's name, not the secret; without one, the emulator is used."""

    api_key: str | None = None
    api_base: str | None = None
    max_network_retries: int = stripe_client_module.DEFAULT_NETWORK_RETRIES

    @contextmanager
    def client(self) -> Iterator[stripe.StripeClient]:
        with stripe_client_module.stripe_client(
            get_settings().emulator_state_dir,
            api_key=self.api_key,
            api_base=self.api_base,
            max_network_retries=self.max_network_retries,
        ) as client:
            yield client
