{{ config(meta={'dagster': {'ref': {'name': 'fct_ledger_entries'}}}) }}
-- Entry ids are unique; every reversal points at an entry of the ledger with the opposite amount.
select entry_id, 'duplicate id' as problem from {{ ref('fct_ledger_entries') }}
group by entry_id having count(*) > 1
union all
select reversal.entry_id, 'reversal does not mirror its entry' as problem
from {{ ref('fct_ledger_entries') }} as reversal
left join {{ ref('fct_ledger_entries') }} as original on reversal.corrects_entry_id = original.entry_id
where reversal.entry_type = 'reversal'
  and (original.entry_id is null or original.amount <> -reversal.amount)
