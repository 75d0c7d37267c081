{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['subscription_id', 'invoice_period_start'],
        full_refresh=false,
        on_schema_change='append_new_columns'
    )
}}
-- The last preview the warehouse made of each subscription's invoice for each billing period,
-- kept after the period closes. fct_invoice_preview only holds the upcoming invoice: once a
-- period ends it previews the next one, and the finalized Stripe invoice of the closed period
-- would have nothing to be compared with (rpt_invoice_reconciliation). Each run replaces the
-- row of the periods it previews (the latest preview wins) and leaves closed periods as they
-- were last previewed. `full_refresh: false`: past previews cannot be recomputed (the preview
-- reads Stripe's current state), so --full-refresh leaves this table alone.
-- invoice_commitment_true_up is what the ledger posts as the period's true-up once the period
-- has ended (int_ledger__desired_lines); `append_new_columns` adds it to a history written
-- before it existed, whose older rows keep null (the ledger then leaves their true-up as posted).
with preview as (
    select * from {{ ref('fct_invoice_preview') }}
),

final as (
    select
        subscription_id,
        min(stripe_customer_id) as stripe_customer_id,
        min(customer_id) as customer_id,
        min(currency) as currency,
        invoice_period_start,
        min(invoice_period_end) as invoice_period_end,
        cast(min(invoice_subtotal) as bigint) as invoice_subtotal,
        cast(min(invoice_discount) as bigint) as invoice_discount,
        cast(min(invoice_total) as bigint) as invoice_total,
        cast(sum(case when line_type = 'commitment_true_up' then amount else 0 end) as bigint)
            as invoice_commitment_true_up,
        count(*) as preview_lines,
        cast({{ "'" ~ tollgate.run_date() ~ "'" if tollgate.run_date() else 'current_date' }} as date) as previewed_as_of
    from preview
    group by subscription_id, invoice_period_start
)

select * from final
