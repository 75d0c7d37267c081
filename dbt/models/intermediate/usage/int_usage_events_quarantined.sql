-- A view over the classified lines: costs nothing to build, however long the history.
{{ config(materialized='view') }}
-- Lines that will not be billed as they are, each with the reason and the line as landed.
with classified as (
    select * from {{ ref('int_usage_events_classified') }}
),

final as (
    select
        file_id,
        source_file,
        landed_date,
        line_number,
        reason,
        event_id,
        customer_id,
        meter,
        event_at,
        quantity,
        raw_line,
        classified_on
    from classified
    where status = 'quarantined'
)

select * from final
