{{ config(meta={'dagster': {'ref': {'name': 'fct_ledger_entries'}}}) }}
-- No entry was posted into a month after that month was closed.
select entries.entry_id, entries.accounting_period, entries.posted_as_of, closed.closed_on
from {{ ref('fct_ledger_entries') }} as entries
inner join {{ ref('int_ledger__closed_periods') }} as closed
    on entries.accounting_period = closed.period_month
where entries.posted_as_of > closed.closed_on
