-- A view over the stored outcomes (int_usage_line_outcomes): every landed line with its status
-- and reason. Costs nothing to build, however long the history.
{{ config(materialized='view') }}
with outcomes as (
    select * from {{ ref('int_usage_line_outcomes') }}
),

files as (
    select * from {{ ref('stg_usage__landing_files') }}
),

final as (
    select
        outcomes.file_id,
        files.source_file,
        outcomes.landed_date,
        line_number,
        event_id,
        customer_id,
        stripe_customer_id,
        {{ tollgate.line_detail_field('detail', 'meter') }} as meter,
        meter_id,
        event_at,
        cast(event_at as date) as usage_date,
        quantity,
        {{ tollgate.line_detail_field('detail', 'properties') }} as properties,
        {{ tollgate.line_detail_field('detail', 'raw_line') }} as raw_line,
        {{ tollgate.line_status('detail') }} as status,
        {{ tollgate.line_detail_field('detail', 'reason') }} as reason,
        {{ tollgate.line_is_canonical('detail') }} as is_canonical,
        classified_on
    from outcomes
    left join files on files.file_id = outcomes.file_id
)

select * from final
