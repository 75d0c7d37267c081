-- A view over the stored outcomes: costs nothing to build, however long the history.
{{ config(materialized='view') }}
-- Accepted usage: one row per event_id, mapped to a Stripe customer and an active meter (an
-- accepted line is stored without detail). Its meter's event name is the event_name of its
-- meter_id (the name it was matched on; Stripe does not let a meter's event name change);
-- its properties and the line as landed are in raw.usage_events (file_id, line_number).
with outcomes as (
    select * from {{ ref('int_usage_line_outcomes') }}
    where detail is null
),

final as (
    select
        event_id,
        customer_id,
        stripe_customer_id,
        meter_id,
        event_at,
        cast(event_at as date) as usage_date,
        quantity,
        file_id,
        line_number,
        landed_date,
        classified_on
    from outcomes
)

select * from final
