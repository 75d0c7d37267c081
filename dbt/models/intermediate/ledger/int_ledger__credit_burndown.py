"""Which credit grant pays for which day of accrued usage (dagster_project/ledger/credits.py).

A Python model because the burn-down is a sequential allocation (each grant takes what the
grants before it left); the rule, the order (priority, earliest expiry, oldest) and why
computing it grant by grant equals replaying it day by day are in credits.py, and the property
tests run the same function. Only facts dated on or before the as-of day take part. Amounts are
integers (minor units) throughout. (Python models run on DuckDB, Snowflake, BigQuery and
Databricks targets; on PostgreSQL this one model needs a port.)
"""

from datetime import date


def model(dbt, session):
    dbt.config(materialized="table")
    import pandas as pd

    from dagster_project.ledger.credits import burn_down_rows

    as_of_rows = dbt.ref("int_ledger__as_of").project("as_of_date").fetchall()
    as_of = as_of_rows[0][0] if as_of_rows else date.min  # `dbt run --empty`: no facts
    grants = dbt.ref("stg_finance__credit_grants").project(
        "grant_id, stripe_customer_id, currency, amount, effective_at, expires_at, priority,"
        " created_at, applicable_meters"
    ).fetchall()
    usage = dbt.ref("int_ledger__usage_accruals").project(
        "accrual_key, stripe_customer_id, currency, meter_event_name, usage_date, accrued_amount"
    ).fetchall()
    burns = burn_down_rows(grants, usage, as_of)
    frame = pd.DataFrame(
        {
            "grant_id": pd.Series([b.grant_id for b in burns], dtype="object"),
            "accrual_key": pd.Series([b.accrual_key for b in burns], dtype="object"),
            "stripe_customer_id": pd.Series([b.stripe_customer_id for b in burns], dtype="object"),
            "currency": pd.Series([b.currency for b in burns], dtype="object"),
            "usage_date": pd.Series([b.usage_date.isoformat() for b in burns], dtype="object"),
            "amount": pd.Series([b.amount for b in burns], dtype="int64"),
        }
    )
    return session.from_df(frame).project(
        "cast(grant_id as varchar) as grant_id, cast(accrual_key as varchar) as accrual_key,"
        " cast(stripe_customer_id as varchar) as stripe_customer_id,"
        " cast(currency as varchar) as currency, cast(usage_date as date) as usage_date,"
        " cast(amount as bigint) as amount"
    )
