-- Accepted usage per landing day, Stripe customer, meter and usage day: what each landing day
-- contributed to fct_usage_daily. It is customer-day sized, so the daily marts can be summed
-- from it without reading events of earlier landing days. A daily run recomputes its own
-- landing day and the days of held lines it accepted (recomputed_landing_days).
-- depends_on: {{ ref('int_usage_events_classified') }}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    replace_where='landed_date in (select landed_date from __batch__) or landed_date = __run_date__',
) }}
{%- set daily = tollgate.is_daily_increment() %}

with events as (
    select * from {{ ref('int_usage_events_deduplicated') }}
    {%- if daily %}
    where landed_date in ({{ tollgate.recomputed_landing_days() }})
    {%- endif %}
),

final as (
    select
        landed_date,
        customer_id,
        stripe_customer_id,
        meter as meter_event_name,
        meter_id,
        usage_date,
        cast(sum(quantity) as decimal(38, 12)) as quantity,
        count(*) as event_count
    from events
    group by landed_date, customer_id, stripe_customer_id, meter, meter_id, usage_date
)

select * from final
