{{ config(meta={'dagster': {'ref': {'name': 'int_ledger__usage_accruals'}}}) }}
-- The ledger's daily usage accruals of each current period add up to fct_rated_usage's amount
-- for the same item and period, to the minor unit (the day amounts telescope).
with accrued as (
    select subscription_item_id, period_start, sum(accrued_amount) as accrued
    from {{ ref('int_ledger__usage_accruals') }}
    group by 1, 2
),
rated as (
    select subscription_item_id, invoice_period_start as period_start, amount
    from {{ ref('fct_rated_usage') }}
    where line_type = 'metered'
)
select rated.subscription_item_id, rated.amount, coalesce(accrued.accrued, 0) as accrued
from rated
left join accrued using (subscription_item_id, period_start)
where rated.amount <> coalesce(accrued.accrued, 0)
