-- A view over the classified lines: costs nothing to build, however long the history.
{{ config(materialized='view') }}
-- Accepted usage: one row per event_id, mapped to a Stripe customer and an active meter.
with classified as (
    select * from {{ ref('int_usage_events_classified') }}
),

final as (
    select
        event_id,
        customer_id,
        stripe_customer_id,
        meter,
        meter_id,
        event_at,
        usage_date,
        quantity,
        properties,
        file_id,
        source_file,
        line_number,
        landed_date,
        classified_on
    from classified
    where status = 'accepted'
)

select * from final
