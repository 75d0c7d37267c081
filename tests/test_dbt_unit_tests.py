"""dbt unit tests (YAML `unit_tests:`): dagster-dbt does not run them, so the suite does."""

import re

from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema
from dagster_project.warehouse import connect, ensure_raw_schema
from tests.conftest import run_dbt

UNIT_TESTS_DEFINED = 3


def test_dbt_unit_tests_pass(home):
    with connect(home.warehouse_path) as con:  # the sources, as the ingestion assets create them
        ensure_raw_schema(con)
        ensure_raw_stripe_schema(con)
    run_dbt("run", "--empty")  # unit tests need the upstream relations to exist
    proc = run_dbt("test", "--select", "test_type:unit")  # a failing unit test fails run_dbt
    assert re.search(rf"PASS={UNIT_TESTS_DEFINED}\b", proc.stdout), proc.stdout[-2000:]
