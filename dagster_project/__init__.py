"""Tollgate: warehouse-native usage billing (Dagster + dbt + Stripe)."""

import warnings

# The assets choose one partition per backfill run (BackfillPolicy.multi_run(1)); Dagster marks
# that parameter beta and would warn on every import.
warnings.filterwarnings("ignore", message=".*backfill_policy.*")
