-- Metered usage per customer, meter and UTC day, from accepted (deduplicated) events.
with events as (
    select * from {{ ref('int_usage_events_deduplicated') }}
),

daily as (
    select
        customer_id,
        stripe_customer_id,
        meter as meter_event_name,
        meter_id,
        usage_date,
        sum(quantity) as quantity,
        count(*) as event_count
    from events
    group by customer_id, stripe_customer_id, meter, meter_id, usage_date
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
        event_count
    from daily
)

select * from final
