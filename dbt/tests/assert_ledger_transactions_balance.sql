{{ config(meta={'dagster': {'ref': {'name': 'fct_ledger_entries'}}}) }}
-- Double entry: every journal transaction (transaction_key, version) balances per currency,
-- and so does each posting day within it (debits = credits).
select journal_id, currency, posting_date, sum(debit) as debits, sum(credit) as credits
from {{ ref('fct_ledger_entries') }}
group by journal_id, currency, posting_date
having sum(debit) <> sum(credit)
