-- Metered usage per customer, meter and UTC day, from accepted (deduplicated) events.
-- Incremental: a daily run recomputes only the customer x meter x day keys its landing days
-- contribute to (touched_usage: the run's day and the days of held lines it accepted), summing
-- each from every landing day's contributions, and replaces those keys. Its work follows the
-- new day's data, not history or the late-arrival window: all such keys lie within
-- late_arrival_days of run_date (older events are too_late).
-- depends_on: {{ ref('int_usage_events_classified') }}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    replace_where="usage_date >= __usage_window_start__ and exists (
        select 1 from __touched_usage__ as touched
        where touched.stripe_customer_id = tgt.stripe_customer_id
          and touched.meter_event_name = tgt.meter_event_name
          and touched.usage_date = tgt.usage_date)",
) }}
{%- set daily = tollgate.is_daily_increment() %}

with contributions as (
    select * from {{ ref('int_usage_daily_contributions') }}
),

{%- if daily %}

touched as (
    select distinct stripe_customer_id, meter_event_name, usage_date
    from ({{ tollgate.touched_usage() }}) as touched_usage
),

recomputed as (
    select contributions.*
    from contributions
    inner join touched
        on contributions.stripe_customer_id = touched.stripe_customer_id
        and contributions.meter_event_name = touched.meter_event_name
        and contributions.usage_date = touched.usage_date
    where contributions.usage_date >= {{ tollgate.usage_window_start() }}
),

{%- else %}

recomputed as (
    select * from contributions
),

{%- endif %}

daily as (
    select
        customer_id,
        stripe_customer_id,
        meter_event_name,
        meter_id,
        usage_date,
        sum(quantity) as quantity,
        sum(event_count) as event_count
    from recomputed
    group by customer_id, stripe_customer_id, meter_event_name, meter_id, usage_date
    -- A key whose usage a rerun took away entirely has only empty contributions: no row.
    having sum(event_count) > 0
),

final as (
    select
        {{ hash_key(['stripe_customer_id', 'meter_event_name', 'usage_date']) }} as usage_daily_id,
        customer_id,
        stripe_customer_id,
        meter_event_name,
        meter_id,
        usage_date,
        cast(quantity as decimal(38, 12)) as quantity,
        cast(event_count as bigint) as event_count
    from daily
)

select * from final
