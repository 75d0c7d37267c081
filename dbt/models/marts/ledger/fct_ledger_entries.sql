{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='fail'
    )
}}
-- The double-entry journal: APPEND-ONLY. Each run compares what the ledger should hold
-- (int_ledger__desired_lines, as of the as-of day) with what it holds, and appends only the
-- difference. Nothing is ever updated or deleted; `full_refresh: false` makes dbt's
-- --full-refresh leave this table alone.
--
-- For each transaction whose lines differ from what is posted:
--   * a REVERSAL of each line of its live version (entry_type 'reversal', corrects_entry_id =
--     the entry it reverses), and
--   * its NEW lines (entry_type 'original' the first time, 'correction' after; a correction's
--     corrects_entry_id is the entry it replaces on the same account).
-- Both form version n + 1 of the transaction (journal_id). A rerun with the same facts finds no
-- difference and posts nothing.
--
-- Where a transaction is silent: sources that list every fact they ever had (invoices,
-- payments, refunds, credit notes, grants, burns, expiries, usage accruals, licensed fees and
-- their recognition) make a posted transaction that vanished from them a correction to 0, when
-- it is dated on or before the as-of day. The upcoming invoice's adjustments (discounts,
-- true-ups, prorations of the preview) only speak about the current period: when silent,
-- what was posted stands.
--
-- POSTING DATE: the fact's effective date, unless that month is closed
-- (int_ledger__closed_periods): then the as-of day, i.e. the current open period. A reversal
-- is posted on the reversed entry's posting date when that month is still open, else on the
-- as-of day. A closed month is therefore never written to.
--
-- entry_id = hash(transaction_key, version, line_key, entry_type): from the facts and the
-- ledger's own history, never from the clock.
{%- set complete_types = [
    'usage_accrual', 'licensed_fee', 'revenue_recognition', 'invoice_finalized', 'payment',
    'refund', 'credit_note', 'credit_grant', 'credit_burn', 'credit_expiry'] %}
with desired as (
    select * from {{ ref('int_ledger__desired_lines') }}
),

as_of as (
    select as_of_date from {{ ref('int_ledger__as_of') }}
),

closed as (
    select period_month from {{ ref('int_ledger__closed_periods') }}
),

posted as (
    {% if is_incremental() %}
    select * from {{ this }}
    {% else %}
    select
        cast(null as varchar) as entry_id,
        cast(null as varchar) as journal_id,
        cast(null as varchar) as transaction_key,
        cast(null as varchar) as transaction_type,
        cast(null as bigint) as version,
        cast(null as varchar) as entry_type,
        cast(null as varchar) as corrects_entry_id,
        cast(null as varchar) as line_key,
        cast(null as varchar) as account,
        cast(null as varchar) as sub_account,
        cast(null as varchar) as product_id,
        cast(null as varchar) as stripe_customer_id,
        cast(null as varchar) as customer_id,
        cast(null as varchar) as currency,
        cast(null as date) as effective_date,
        cast(null as date) as posting_date,
        cast(null as date) as accounting_period,
        cast(null as bigint) as debit,
        cast(null as bigint) as credit,
        cast(null as bigint) as amount,
        cast(null as varchar) as source_type,
        cast(null as varchar) as source_id,
        cast(null as date) as posted_as_of
    where 1 = 0
    {% endif %}
),

desired_transactions as (
    select distinct transaction_key from desired
),

-- posted transactions that the desired set covers: present in it, or silent but complete
in_scope as (
    select distinct posted.transaction_key
    from posted
    cross join as_of
    left join desired_transactions on posted.transaction_key = desired_transactions.transaction_key
    where desired_transactions.transaction_key is not null
       or (posted.transaction_type in ('{{ complete_types | join("', '") }}')
           and posted.effective_date <= as_of.as_of_date)
),

posted_net as (
    select transaction_key, line_key, sum(amount) as amount
    from posted
    where transaction_key in (select transaction_key from in_scope)
    group by transaction_key, line_key
),

desired_net as (
    select transaction_key, line_key, sum(amount) as amount
    from desired
    group by transaction_key, line_key
),

changed as (
    select distinct coalesce(desired_net.transaction_key, posted_net.transaction_key) as transaction_key
    from desired_net
    full outer join posted_net
        on desired_net.transaction_key = posted_net.transaction_key
        and desired_net.line_key = posted_net.line_key
    where coalesce(desired_net.amount, 0) <> coalesce(posted_net.amount, 0)
),

versions as (
    select transaction_key, max(version) as version
    from posted
    where transaction_key in (select transaction_key from changed)
    group by transaction_key
),

live as (
    select posted.*
    from posted
    inner join versions
        on posted.transaction_key = versions.transaction_key
        and posted.version = versions.version
    where posted.entry_type <> 'reversal'
),

reversals as (
    select
        live.transaction_key,
        live.transaction_type,
        live.version + 1 as version,
        'reversal' as entry_type,
        live.entry_id as corrects_entry_id,
        live.line_key,
        live.account,
        live.sub_account,
        live.product_id,
        live.stripe_customer_id,
        live.customer_id,
        live.currency,
        live.effective_date,
        case
            when {{ tollgate.month_start('live.posting_date') }} in (select period_month from closed)
                then as_of.as_of_date
            else live.posting_date
        end as posting_date,
        -live.amount as amount,
        live.source_type,
        live.source_id
    from live
    cross join as_of
),

new_lines as (
    select
        desired.transaction_key,
        desired.transaction_type,
        coalesce(versions.version, 0) + 1 as version,
        case when versions.version is null then 'original' else 'correction' end as entry_type,
        live.entry_id as corrects_entry_id,
        desired.line_key,
        desired.account,
        desired.sub_account,
        desired.product_id,
        desired.stripe_customer_id,
        desired.customer_id,
        desired.currency,
        desired.effective_date,
        case
            when {{ tollgate.month_start('desired.effective_date') }} in (select period_month from closed)
                then as_of.as_of_date
            else desired.effective_date
        end as posting_date,
        desired.amount,
        desired.source_type,
        desired.source_id
    from desired
    cross join as_of
    inner join changed on desired.transaction_key = changed.transaction_key
    left join versions on desired.transaction_key = versions.transaction_key
    left join live
        on desired.transaction_key = live.transaction_key
        and desired.line_key = live.line_key
    where desired.amount <> 0
),

new_entries as (
    select * from reversals
    union all
    select * from new_lines
),

final as (
    select
        {{ hash_key(['new_entries.transaction_key', 'new_entries.version', 'new_entries.line_key', 'new_entries.entry_type']) }}
            as entry_id,
        {{ hash_key(['new_entries.transaction_key', 'new_entries.version']) }} as journal_id,
        new_entries.transaction_key,
        new_entries.transaction_type,
        cast(new_entries.version as bigint) as version,
        new_entries.entry_type,
        -- varchar on every run (PostgreSQL: the first run's typed null, later runs' md5 text)
        cast(new_entries.corrects_entry_id as varchar) as corrects_entry_id,
        new_entries.line_key,
        new_entries.account,
        new_entries.sub_account,
        new_entries.product_id,
        new_entries.stripe_customer_id,
        new_entries.customer_id,
        new_entries.currency,
        cast(new_entries.effective_date as date) as effective_date,
        cast(new_entries.posting_date as date) as posting_date,
        {{ tollgate.month_start('new_entries.posting_date') }} as accounting_period,
        cast(case when new_entries.amount > 0 then new_entries.amount else 0 end as bigint) as debit,
        cast(case when new_entries.amount < 0 then -new_entries.amount else 0 end as bigint) as credit,
        cast(new_entries.amount as bigint) as amount,
        new_entries.source_type,
        new_entries.source_id,
        as_of.as_of_date as posted_as_of
    from new_entries
    cross join as_of
)

select * from final
