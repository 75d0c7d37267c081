"""Every asset check has a runbook entry: an alert names its check, and the person reading it
looks the check up in README.md, Operations > Runbook (the alert's `runbook` field says so)."""

import fnmatch
import json
import re
from pathlib import Path

from dagster_project.definitions import defs
from dagster_project.transform.dbt_assets import MANIFEST, TOLLGATE_DBT_ASSETS

README = Path(__file__).parent.parent / "README.md"


def runbook_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Runbook")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def named_in_runbook() -> tuple[set[str], list[str]]:
    """Backticked names, and backticked patterns such as `not_null_*`."""
    names = set(re.findall(r"`([A-Za-z0-9_*]+)`", runbook_section()))
    return {n for n in names if "*" not in n}, [n for n in names if "*" in n]


def generic_dbt_test_checks() -> dict[str, str]:
    """check name -> the pattern naming every use of its generic dbt test (`not_null_*`, ...):
    one entry covers a generic test wherever it is applied. Singular tests need their own."""
    nodes = json.loads(MANIFEST.read_text())["nodes"].values()
    patterns = {}
    for node in nodes:
        meta = node.get("test_metadata") if node["resource_type"] == "test" else None
        if meta:
            prefix = f"{meta['namespace']}_" if meta.get("namespace") else ""
            patterns[node["name"]] = f"{prefix}{meta['name']}_*"
    return patterns


def test_every_asset_check_in_the_definitions_has_a_runbook_entry():
    graph = defs.resolve_asset_graph()
    checks = {key.name for key in graph.asset_check_keys}
    dbt_checks = {key.name for assets_def in TOLLGATE_DBT_ASSETS for key in assets_def.check_keys}
    assert {"invoice_preview_matches_stripe", "ledger_transactions_balance", "gx_push_input_suite"} <= checks
    assert dbt_checks and dbt_checks <= checks

    names, patterns = named_in_runbook()
    generic = generic_dbt_test_checks()
    missing = []
    for check in sorted(checks):
        if check in names:
            continue
        pattern = generic.get(check) if check in dbt_checks else None
        if pattern and pattern in patterns and fnmatch.fnmatch(check, pattern):
            continue
        missing.append(pattern or check)
    assert not missing, f"checks without a runbook entry in README.md: {sorted(set(missing))}"


def test_run_alerts_have_runbook_entries_too():
    names, _ = named_in_runbook()
    assert {"run_failed", "run_canceled"} <= names
