-- Per customer, currency and UTC day (from the customer's first entry to the as-of day): each
-- balance as the ledger now knows it for that day, i.e. the sum of every entry whose EFFECTIVE
-- date is on or before the day, and the month's usage.
--   credits_remaining    = -(customer_credit_balance)       credit not yet burned or expired
--   receivable           = accounts_receivable              billed, not yet paid
--   unbilled_receivable  = unbilled_receivable              earned / contracted, not yet invoiced
--   total_owed           = receivable + unbilled_receivable
--   usage_this_period    = usage revenue of the day's month to date
--   credits_burned_this_period = credit burned against that usage
--   overage_this_period  = usage_this_period - credits_burned_this_period (what credits did not cover)
-- Why effective, not posting, dates: a correction of a closed month is posted in the open one
-- (fct_ledger_entries), while the corrections it causes on later days of an open month are
-- posted on their own days. By posting date a customer's credit then read negative on the days
-- between (a late usage cut in closed October gives credit back only on the as-of day, but the
-- November burns that credit now pays for are already restated): a balance no customer ever
-- had. By effective date every day shows the burn-down's own, never-negative balance; the
-- journal's posting dates still say when each entry was booked. The last day equals the sum of
-- all entries either way. Amounts are integers in the currency's minor unit.
with entries as (
    select * from {{ ref('fct_ledger_entries') }}
),

as_of as (
    select as_of_date from {{ ref('int_ledger__as_of') }}
),

daily as (
    select
        stripe_customer_id,
        currency,
        effective_date,
        sum(case when account = 'customer_credit_balance' then amount else 0 end) as credit_balance_change,
        sum(case when account = 'accounts_receivable' then amount else 0 end) as receivable_change,
        sum(case when account = 'unbilled_receivable' then amount else 0 end) as unbilled_change,
        sum(case when account = 'cash' then amount else 0 end) as cash_change,
        -sum(case when account = 'usage_revenue' then amount else 0 end) as usage_revenue,
        sum(case when transaction_type = 'credit_burn' and account = 'customer_credit_balance' then amount else 0 end)
            as credits_burned
    from entries
    group by stripe_customer_id, currency, effective_date
),

customers as (
    select
        stripe_customer_id,
        currency,
        min(effective_date) as first_date,
        max(effective_date) as last_date
    from entries
    group by stripe_customer_id, currency
),

spine as (
    select
        customers.stripe_customer_id,
        customers.currency,
        cast(days.day as date) as balance_date
    from customers
    cross join as_of
    cross join {{ tollgate.timestamp_series(
        'customers.first_date',
        'greatest(as_of.as_of_date, customers.last_date)',
        'day', 'days', 'day') }}
),

filled as (
    select
        spine.stripe_customer_id,
        spine.currency,
        spine.balance_date,
        {{ tollgate.month_start('spine.balance_date') }} as accounting_period,
        coalesce(daily.credit_balance_change, 0) as credit_balance_change,
        coalesce(daily.receivable_change, 0) as receivable_change,
        coalesce(daily.unbilled_change, 0) as unbilled_change,
        coalesce(daily.cash_change, 0) as cash_change,
        coalesce(daily.usage_revenue, 0) as usage_revenue,
        coalesce(daily.credits_burned, 0) as credits_burned
    from spine
    left join daily
        on spine.stripe_customer_id = daily.stripe_customer_id
        and spine.currency = daily.currency
        and spine.balance_date = daily.effective_date
),

running as (
    select
        *,
        sum(credit_balance_change) over w_all as credit_balance,
        sum(receivable_change) over w_all as receivable,
        sum(unbilled_change) over w_all as unbilled_receivable,
        sum(cash_change) over w_all as cash,
        sum(usage_revenue) over w_period as usage_this_period,
        sum(credits_burned) over w_period as credits_burned_this_period
    from filled
    window
        w_all as (partition by stripe_customer_id, currency order by balance_date rows between unbounded preceding and current row),
        w_period as (partition by stripe_customer_id, currency, accounting_period order by balance_date rows between unbounded preceding and current row)
),

mapped as (
    select * from {{ ref('int_customers_mapped') }}
),

final as (
    select
        {{ hash_key(['running.stripe_customer_id', 'running.currency', 'running.balance_date']) }} as account_balance_id,
        running.stripe_customer_id,
        mapped.customer_id,
        running.currency,
        running.balance_date,
        running.accounting_period,
        cast(-running.credit_balance as bigint) as credits_remaining,
        cast(running.receivable as bigint) as receivable,
        cast(running.unbilled_receivable as bigint) as unbilled_receivable,
        cast(running.receivable + running.unbilled_receivable as bigint) as total_owed,
        cast(running.cash as bigint) as cash_received,
        cast(running.usage_this_period as bigint) as usage_this_period,
        cast(running.credits_burned_this_period as bigint) as credits_burned_this_period,
        cast(running.usage_this_period - running.credits_burned_this_period as bigint) as overage_this_period
    from running
    left join mapped on running.stripe_customer_id = mapped.stripe_customer_id
)

select * from final
