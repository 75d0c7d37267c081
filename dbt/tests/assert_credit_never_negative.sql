{{ config(meta={'dagster': {'ref': {'name': 'fct_account_balances'}}}) }}
-- A grant never gives more than its amount, and no customer's credit balance is ever below 0.
select grants.grant_id as subject, grants.amount - coalesce(sum(burns.amount), 0) as remaining
from {{ ref('stg_finance__credit_grants') }} as grants
left join {{ ref('int_ledger__credit_burndown') }} as burns on grants.grant_id = burns.grant_id
group by grants.grant_id, grants.amount
having grants.amount - coalesce(sum(burns.amount), 0) < 0
union all
select stripe_customer_id || ' ' || cast(balance_date as varchar), credits_remaining
from {{ ref('fct_account_balances') }}
where credits_remaining < 0
