-- The day the ledger is posted as of: the run's partition day (tollgate.run_date(), set by Dagster;
-- today when run by hand), but never earlier than a day the ledger has already been posted as
-- of (its high-water mark). Rerunning an old partition after newer ones therefore changes
-- nothing a newer run decided; facts dated after the as-of day wait for a later run.
-- The ledger is read through adapter.get_relation, not ref(): it is downstream of this model
-- (a deliberate, documented back-edge; on a fresh warehouse it does not exist yet).
{%- set ledger = adapter.get_relation(database=target.database, schema='marts', identifier='fct_ledger_entries') %}
with requested as (
    select cast({{ "'" ~ tollgate.run_date() ~ "'" if tollgate.run_date() else 'current_date' }} as date) as run_date
),

high_water as (
    {% if ledger is not none and execute %}
    select max(posted_as_of) as posted_as_of from {{ ledger }}
    {% else %}
    select cast(null as date) as posted_as_of
    {% endif %}
)

select
    requested.run_date,
    high_water.posted_as_of as ledger_high_water,
    cast(greatest(requested.run_date, coalesce(high_water.posted_as_of, requested.run_date)) as date)
        as as_of_date
from requested
cross join high_water
