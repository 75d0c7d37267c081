{{ config(meta={'dagster': {'ref': {'name': 'fct_account_balances'}}}) }}
-- Each customer's balances on the last day equal the sum of all its ledger entries.
-- (the newest row per customer through a plain row_number subquery: `qualify` is DuckDB's)
with numbered as (
    select
        *,
        row_number() over (partition by stripe_customer_id, currency order by balance_date desc) as newest_first
    from {{ ref('fct_account_balances') }}
),
last_day as (
    select * from numbered where newest_first = 1
),
sums as (
    select
        stripe_customer_id,
        currency,
        -sum(case when account = 'customer_credit_balance' then amount else 0 end) as credits_remaining,
        sum(case when account = 'accounts_receivable' then amount else 0 end) as receivable,
        sum(case when account = 'unbilled_receivable' then amount else 0 end) as unbilled_receivable
    from {{ ref('fct_ledger_entries') }}
    group by 1, 2
)
select last_day.stripe_customer_id, last_day.currency
from last_day
inner join sums using (stripe_customer_id, currency)
where last_day.credits_remaining <> sums.credits_remaining
   or last_day.receivable <> sums.receivable
   or last_day.unbilled_receivable <> sums.unbilled_receivable
