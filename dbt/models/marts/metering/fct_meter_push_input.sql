-- Desired meter-event totals per Stripe customer, meter and UTC day: what Stripe should hold.
-- Stripe is sent whole units. Rounding happens here, once: each day is given
--   floor(cumulative quantity through the day) - floor(cumulative quantity before the day),
-- so a fractional remainder is carried forward to the next day with usage instead of being
-- rounded away, and the whole-unit total never exceeds the true total by any amount.
with usage_daily as (
    select * from {{ ref('fct_usage_daily') }}
),

meters as (
    select * from {{ ref('stg_stripe__billing_meters') }}
),

cumulative as (
    select
        usage_daily_id,
        customer_id,
        stripe_customer_id,
        meter_event_name,
        meter_id,
        usage_date,
        quantity,
        event_count,
        sum(quantity) over (
            partition by stripe_customer_id, meter_event_name
            order by usage_date
            rows between unbounded preceding and current row
        ) as cumulative_quantity
    from usage_daily
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
