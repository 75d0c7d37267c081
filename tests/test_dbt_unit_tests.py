"""dbt unit tests (YAML `unit_tests:`): dagster-dbt does not run them, so the suite does."""

import re

import yaml

from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema
from dagster_project.ledger.finance_inputs import ensure_raw_finance_schema
from dagster_project.settings import DBT_PROJECT_DIR
from dagster_project.warehouse import connect, ensure_raw_schema
from tests.conftest import run_dbt


def unit_tests_defined(excluding: tuple[str, ...] = ()) -> int:
    """Every unit test written in the project's YAML (outside the `excluding` model folders),
    so a test that silently stops being collected fails this count instead of passing unseen."""
    count = 0
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        if any(path.relative_to(DBT_PROJECT_DIR).as_posix().startswith(folder) for folder in excluding):
            continue
        count += len((yaml.safe_load(path.read_text()) or {}).get("unit_tests") or [])
    return count


def test_dbt_unit_tests_pass(home):
    with connect(home.warehouse_path) as con:  # the sources, as the ingestion assets create them
        ensure_raw_schema(con)
        ensure_raw_stripe_schema(con)
        ensure_raw_finance_schema(con)
    run_dbt("seed")  # the ledger's seeds (chart of accounts, closed periods, credit grants)
    run_dbt("run", "--empty")  # unit tests need the upstream relations to exist
    proc = run_dbt("test", "--select", "test_type:unit")  # a failing unit test fails run_dbt
    expected = unit_tests_defined()
    assert expected >= 10  # 8 pricing/metering + 2 incremental worked examples
    assert re.search(rf"PASS={expected}\b", proc.stdout), proc.stdout[-2000:]


def test_unit_test_names_fit_postgresqls_identifiers():
    """dbt names a unit test's relation after the test; PostgreSQL refuses identifiers over 63
    characters, so a longer name passes on DuckDB and errors on the second warehouse."""
    too_long = [
        test["name"]
        for path in (DBT_PROJECT_DIR / "models").rglob("*.yml")
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests") or []
        if len(test["name"]) > 63
    ]
    assert not too_long
