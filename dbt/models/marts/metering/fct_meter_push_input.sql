-- Desired meter-event totals per Stripe customer, meter and UTC day: what Stripe should hold.
-- Stripe is sent whole units. Rounding happens here, once: each day is given
--   floor(cumulative quantity through the day) - floor(cumulative quantity before the day),
-- so a fractional remainder is carried forward to the next day with usage instead of being
-- rounded away, and the whole-unit total never exceeds the true total by any amount.
--
-- Incremental: a daily run recomputes the usage days within late_arrival_days of run_date (the
-- only ones it can change), starting each customer and meter from the cumulative quantity of
-- all earlier days, carried from run to run in int_usage_cumulative_before_window (its work is
-- the day that left the window, not history).
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    replace_where='usage_date >= __usage_window_start__',
) }}
{%- set daily = tollgate.is_daily_increment() %}
-- depends_on: {{ ref('int_usage_cumulative_before_window') }}

with usage_daily as (
    select * from {{ ref('fct_usage_daily') }}
    {%- if daily %}
    where usage_date >= {{ tollgate.usage_window_start() }}
    {%- endif %}
),

before_window as (
    {%- if daily %}
    -- The carried state: cumulative quantity of every usage day before the window, advanced
    -- by one day per run instead of summed over history here.
    select
        stripe_customer_id,
        meter_event_name,
        quantity
    from {{ ref('int_usage_cumulative_before_window') }}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as stripe_customer_id,
        cast(null as {{ dbt.type_string() }}) as meter_event_name,
        cast(0 as decimal(38, 12)) as quantity
    where 1 = 0
    {%- endif %}
),

meters as (
    select * from {{ ref('stg_stripe__billing_meters') }}
),

cumulative as (
    select
        usage_daily.usage_daily_id,
        usage_daily.customer_id,
        usage_daily.stripe_customer_id,
        usage_daily.meter_event_name,
        usage_daily.meter_id,
        usage_daily.usage_date,
        usage_daily.quantity,
        usage_daily.event_count,
        coalesce(before_window.quantity, 0) + sum(usage_daily.quantity) over (
            partition by usage_daily.stripe_customer_id, usage_daily.meter_event_name
            order by usage_date
            rows between unbounded preceding and current row
        ) as cumulative_quantity
    from usage_daily
    left join before_window
        on usage_daily.stripe_customer_id = before_window.stripe_customer_id
        and usage_daily.meter_event_name = before_window.meter_event_name
),

final as (
    select
        cumulative.usage_daily_id as push_key,
        cumulative.customer_id,
        cumulative.stripe_customer_id,
        cumulative.meter_event_name,
        cumulative.meter_id,
        coalesce(meters.customer_payload_key, 'stripe_customer_id') as customer_payload_key,
        coalesce(meters.value_payload_key, 'value') as value_payload_key,
        usage_date,
        quantity,
        event_count,
        cast(cumulative_quantity as decimal(38, 12)) as cumulative_quantity,
        cast(floor(cumulative_quantity) - floor(cumulative_quantity - quantity) as bigint)
            as desired_value,
        cast(cumulative_quantity - floor(cumulative_quantity) as decimal(38, 12))
            as carried_remainder
    from cumulative
    left join meters on cumulative.meter_id = meters.meter_id
)

select * from final
