"""Tollgate: warehouse-native usage billing (Dagster + dbt + Stripe)."""
