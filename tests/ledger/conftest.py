"""The ledger's compiled SQL on an empty warehouse, once per session (tests/ledger/sqlrunner.py)."""

import os

import pytest

from tests.ledger.sqlrunner import CompiledLedger, compile_ledger


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> CompiledLedger:
    home = tmp_path_factory.mktemp("ledger_home")
    old = os.environ.get("TOLLGATE_HOME")
    os.environ["TOLLGATE_HOME"] = str(home)
    try:
        yield compile_ledger(home / "warehouse.duckdb")
    finally:
        if old is None:
            os.environ.pop("TOLLGATE_HOME", None)
        else:
            os.environ["TOLLGATE_HOME"] = old
