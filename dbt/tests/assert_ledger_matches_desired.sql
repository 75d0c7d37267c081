{{ config(meta={'dagster': {'ref': {'name': 'fct_ledger_entries'}}}) }}
-- After a run the ledger holds exactly what the sources say, for every transaction they speak
-- about: a difference here means the append logic missed a correction.
with posted as (
    select transaction_key, line_key, sum(amount) as amount
    from {{ ref('fct_ledger_entries') }}
    where transaction_key in (select transaction_key from {{ ref('int_ledger__desired_lines') }})
    group by 1, 2
),
desired as (
    select transaction_key, line_key, sum(amount) as amount
    from {{ ref('int_ledger__desired_lines') }}
    group by 1, 2
)
select coalesce(d.transaction_key, p.transaction_key) as transaction_key,
       coalesce(d.line_key, p.line_key) as line_key, d.amount as desired, p.amount as posted
from desired d
full outer join posted p on d.transaction_key = p.transaction_key and d.line_key = p.line_key
where coalesce(d.amount, 0) <> coalesce(p.amount, 0)
