-- A view over the stored outcomes: costs nothing to build, however long the history.
{{ config(materialized='view') }}
-- Accepted usage: one row per event_id, mapped to a Stripe customer and an active meter.
-- An accepted line's meter is the event name of its meter_id (the name it was matched on;
-- Stripe does not let a meter's event name change). Its properties and the line as landed are
-- in raw.usage_events (file_id, line_number).
with outcomes as (
    select * from {{ ref('int_usage_line_outcomes') }}
    where detail is null
),

meters as (
    select * from {{ ref('stg_stripe__billing_meters') }}
),

final as (
    select
        outcomes.event_id,
        outcomes.customer_id,
        outcomes.stripe_customer_id,
        meters.event_name as meter,
        outcomes.meter_id,
        outcomes.event_at,
        cast(outcomes.event_at as date) as usage_date,
        outcomes.quantity,
        outcomes.file_id,
        outcomes.line_number,
        outcomes.landed_date,
        outcomes.classified_on
    from outcomes
    left join meters on meters.meter_id = outcomes.meter_id
)

select * from final
