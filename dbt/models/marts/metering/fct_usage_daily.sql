-- Metered usage per customer, meter and UTC day, from accepted (deduplicated) events.
-- Incremental: a daily run can only change usage days within late_arrival_days of run_date
-- (older events are too_late), so it recomputes that window from the per-landing-day
-- contributions and replaces it.
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    replace_where='usage_date >= __usage_window_start__',
) }}
{%- set daily = tollgate.is_daily_increment() %}

with contributions as (
    select * from {{ ref('int_usage_daily_contributions') }}
    {%- if daily %}
    where usage_date >= {{ tollgate.usage_window_start() }}
    {%- endif %}
),

daily as (
    select
        customer_id,
        stripe_customer_id,
        meter_event_name,
        meter_id,
        usage_date,
        sum(quantity) as quantity,
        sum(event_count) as event_count
    from contributions
    group by customer_id, stripe_customer_id, meter_event_name, meter_id, usage_date
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
