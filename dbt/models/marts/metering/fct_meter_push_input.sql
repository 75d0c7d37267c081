-- Desired meter-event totals per Stripe customer, meter and UTC day: what Stripe should hold.
-- Stripe is sent whole units. Rounding happens here, once: each day is given
--   floor(cumulative quantity through the day) - floor(cumulative quantity before the day),
-- so a fractional remainder is carried forward to the next day with usage instead of being
-- rounded away, and the whole-unit total never exceeds the true total by any amount.
--
-- Incremental: a day's desired value depends on every earlier day of its customer and meter,
-- so a daily run recomputes each customer and meter whose usage it changed (touched_usage)
-- from its first changed day on, and replaces those rows. It starts from the cumulative
-- quantity before that day: the row's predecessor in this table when it lies within the
-- late-arrival window, else the carried state int_usage_cumulative_before_window (every usage
-- day before the window, advanced by one day per run). History is never summed again; the
-- window's rows are only looked up, for the touched customers and meters. A meter's payload
-- keys cannot change in Stripe (its update takes only a display name), so rows that are not
-- recomputed never hold stale ones.
-- depends_on: {{ ref('int_usage_cumulative_before_window') }}
-- depends_on: {{ ref('int_usage_daily_contributions') }}
-- depends_on: {{ ref('int_usage_events_classified') }}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    replace_where="usage_date >= __usage_window_start__ and push_key in (
        select previous.push_key
        from __this__ as previous
        inner join (" ~ tollgate.first_touched_days('__touched_usage__') ~ ") as touched
            on previous.stripe_customer_id = touched.stripe_customer_id
            and previous.meter_event_name = touched.meter_event_name
            and previous.usage_date >= touched.from_date
        where previous.usage_date >= __usage_window_start__)",
) }}
{%- set daily = tollgate.is_daily_increment() %}

{%- if daily %}

with touched as (
    {{ tollgate.first_touched_days('(' ~ tollgate.touched_usage() ~ ')') }}
),

usage_daily as (
    select usage_daily.*
    from {{ ref('fct_usage_daily') }} as usage_daily
    inner join touched
        on usage_daily.stripe_customer_id = touched.stripe_customer_id
        and usage_daily.meter_event_name = touched.meter_event_name
        and usage_daily.usage_date >= touched.from_date
    where usage_daily.usage_date >= {{ tollgate.usage_window_start() }}
),

-- The last row before the first changed day, when it lies within the window: its cumulative
-- quantity is everything before that day.
previous_rows as (
    select
        previous.stripe_customer_id,
        previous.meter_event_name,
        previous.cumulative_quantity,
        row_number() over (
            partition by previous.stripe_customer_id, previous.meter_event_name
            order by previous.usage_date desc
        ) as recency
    from {{ this }} as previous
    inner join touched
        on previous.stripe_customer_id = touched.stripe_customer_id
        and previous.meter_event_name = touched.meter_event_name
        and previous.usage_date < touched.from_date
    where previous.usage_date >= {{ tollgate.usage_window_start() }}
),

-- No such row: nothing was used between the window's start and the first changed day, so
-- the carried state (every usage day before the window) is everything before it.
before_window as (
    select
        touched.stripe_customer_id,
        touched.meter_event_name,
        coalesce(previous_rows.cumulative_quantity, carried.quantity, 0) as quantity
    from touched
    left join previous_rows
        on touched.stripe_customer_id = previous_rows.stripe_customer_id
        and touched.meter_event_name = previous_rows.meter_event_name
        and previous_rows.recency = 1
    left join {{ ref('int_usage_cumulative_before_window') }} as carried
        on touched.stripe_customer_id = carried.stripe_customer_id
        and touched.meter_event_name = carried.meter_event_name
),

{%- else %}

with usage_daily as (
    select * from {{ ref('fct_usage_daily') }}
),

before_window as (
    select
        cast(null as {{ dbt.type_string() }}) as stripe_customer_id,
        cast(null as {{ dbt.type_string() }}) as meter_event_name,
        cast(0 as decimal(38, 12)) as quantity
    where 1 = 0
),

{%- endif %}

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
