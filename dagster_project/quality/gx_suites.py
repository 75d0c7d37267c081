"""Run a Great Expectations suite stored under expectations/ against a warehouse table.

GX's SQL datasource returns empty batches against DuckDB (an upstream bug), so the table is
read with DuckDB into a DataFrame and validated with an ephemeral context's pandas datasource.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dagster_project.settings import EXPECTATIONS_DIR

SAMPLE_VALUES = 5  # unexpected values kept per failed expectation
SAMPLE_CHARS = 200  # each cut to this length: a 10 MB value must not land in check metadata


@dataclass
class SuiteResult:
    suite_name: str
    success: bool
    rows: int
    evaluated: int
    failures: list[dict] = field(default_factory=list)

    @property
    def unexpected_total(self) -> int:
        return sum(f["unexpected_count"] or 0 for f in self.failures)


def _sample(value) -> str:
    text = str(value)
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + f"... ({len(text)} chars)"


def load_suite_json(name: str, expectations_dir: Path = EXPECTATIONS_DIR) -> dict:
    return json.loads((expectations_dir / f"{name}.json").read_text())


def validate_frame(frame: pd.DataFrame, suite_name: str, expectations_dir: Path = EXPECTATIONS_DIR) -> SuiteResult:
    import great_expectations as gx  # slow import (3-6 s): only when a check runs
    from great_expectations.data_context.types.base import ProgressBarsConfig

    spec = load_suite_json(suite_name, expectations_dir)
    context = gx.get_context(mode="ephemeral")
    # Progress bars would drown the run's logs; results go to the check's metadata instead.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
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
                "column": config.kwargs.get("column") or config.kwargs.get("column_list"),
                "unexpected_count": details.get("unexpected_count"),
                "unexpected_percent": details.get("unexpected_percent"),
                "observed_value": _sample(details["observed_value"]) if "observed_value" in details else None,
                "sample": [_sample(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_VALUES]],
                "error": (r.exception_info or {}).get("exception_message") if not details else None,
            }
        )
    return SuiteResult(suite_name, bool(result.success), len(frame), len(result.results), failures)
