with manifest as (
    select * from {{ source('usage', 'landing_manifest') }}
),

final as (
    select
        file_id,
        source_file,
        landed_date,
        file_format,
        size_bytes,
        line_count as lines_landed,
        loaded_at
    from manifest
)

select * from final
