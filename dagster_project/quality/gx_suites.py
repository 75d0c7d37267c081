"""Run a Great Expectations suite stored under expectations/ against a warehouse table.

GX's SQL datasource returns empty batches against DuckDB (an upstream bug), so the table is
read with DuckDB into a DataFrame and validated with an ephemeral context's pandas datasource.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dagster_project.settings import EXPECTATIONS_DIR


@dataclass
class SuiteResult:
    suite_name: str
    success: bool
    rows: int
    evaluated: int
    failures: list[dict] = field(default_factory=list)


def load_suite_json(name: str, expectations_dir: Path = EXPECTATIONS_DIR) -> dict:
    return json.loads((expectations_dir / f"{name}.json").read_text())


def validate_frame(frame: pd.DataFrame, suite_name: str, expectations_dir: Path = EXPECTATIONS_DIR) -> SuiteResult:
    os.environ.setdefault("TQDM_DISABLE", "1")  # GX's progress bars would drown the run's logs
    import great_expectations as gx  # slow import (3-6 s): only when a check runs

    spec = load_suite_json(suite_name, expectations_dir)
    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(gx.ExpectationSuite(**spec))
    batch = (
        context.data_sources.add_pandas(f"{suite_name}_source")
        .add_dataframe_asset(suite_name)
        .add_batch_definition_whole_dataframe(f"{suite_name}_batch")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(suite)
    failures = []
    for r in result.results:
        if r.success:
            continue
        config = r.expectation_config
        details = r.result or {}
        failures.append(
            {
                "expectation": config.type,
                "kwargs": {k: v for k, v in config.kwargs.items() if k != "batch_id"},
                "unexpected_count": details.get("unexpected_count"),
                "sample": [str(v) for v in (details.get("partial_unexpected_list") or [])[:5]],
                "error": (r.exception_info or {}).get("exception_message") if not details else None,
            }
        )
    return SuiteResult(suite_name, bool(result.success), len(frame), len(result.results), failures)
