-- Accepted usage per landing day, Stripe customer, meter and usage day: what each landing day
-- contributed to fct_usage_daily. It is customer-day sized, so the daily marts can be summed
-- from it without reading events of earlier landing days. A daily run recomputes its own
-- landing day and the days of held lines it accepted (recomputed_landing_days); the daily
-- marts then recompute only the keys these landing days contribute to (touched_usage).
-- depends_on: {{ ref('int_usage_events_classified') }}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    replace_where='landed_date in (select landed_date from __batch__) or landed_date = __run_date__',
) }}
{%- set daily = tollgate.is_daily_increment() %}
{#- Asked once: each call looks the days up in the warehouse. -#}
{%- set recomputed_days = tollgate.recomputed_landing_days() if daily else none %}
{%- set key = ['landed_date', 'customer_id', 'stripe_customer_id', 'meter_event_name', 'meter_id', 'usage_date'] %}

with events as (
    select * from {{ ref('int_usage_events_deduplicated') }}
    {%- if daily %}
    where landed_date in ({{ recomputed_days }})
    {%- endif %}
),

meters as (
    select * from {{ ref('stg_stripe__billing_meters') }}
),

-- Summed per meter_id, then named: the event name is looked up once per row here, not per event.
per_meter as (
    select
        landed_date,
        customer_id,
        stripe_customer_id,
        meter_id,
        usage_date,
        cast(sum(quantity) as decimal(38, 12)) as quantity,
        cast(count(*) as bigint) as event_count
    from events
    group by landed_date, customer_id, stripe_customer_id, meter_id, usage_date
),

contributed as (
    select
        per_meter.landed_date,
        per_meter.customer_id,
        per_meter.stripe_customer_id,
        meters.event_name as meter_event_name,
        per_meter.meter_id,
        per_meter.usage_date,
        per_meter.quantity,
        per_meter.event_count
    from per_meter
    left join meters on meters.meter_id = per_meter.meter_id
),

{%- if daily %}

-- A rerun of a day can take all of a key's usage away (its lines quarantined this time). The
-- key is kept with nothing in it (quantity 0, event_count 0), so the daily marts, which
-- recompute only the keys a run's landing days contribute to, recompute it too. Such a row
-- adds nothing to any sum and is dropped at the next rerun of its landing day.
emptied as (
    select
        {%- for column in key %}
        previous.{{ column }},
        {%- endfor %}
        cast(0 as decimal(38, 12)) as quantity,
        cast(0 as bigint) as event_count
    from {{ this }} as previous
    where previous.landed_date in ({{ recomputed_days }})
      and previous.event_count > 0
      and not exists (
          select 1 from contributed
          where {% for column in key %}contributed.{{ column }} = previous.{{ column }}{% if not loop.last %}
            and {% endif %}{% endfor %}
      )
),

final as (
    select * from contributed
    union all
    select * from emptied
)

{%- else %}

final as (
    select * from contributed
)

{%- endif %}

select * from final
