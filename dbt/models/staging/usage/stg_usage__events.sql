-- One row per landed line, typed. Casting only: validation verdicts are made in intermediate.
with source as (
    select * from {{ source('usage', 'usage_events') }}
),

typed as (
    select
        file_id,
        source_file,
        landed_date,
        line_number,
        raw_line,
        parse_error,
        nullif(trim(event_id), '') as event_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(meter), '') as meter,
        nullif(trim(event_timestamp), '') as event_timestamp_text,
        nullif(trim(quantity), '') as quantity_text,
        properties,
        {{ safe_cast_utc_timestamp('trim(event_timestamp)') }} as event_at,
        {{ safe_cast_quantity('quantity') }} as quantity,
        ingested_at
    from source
),

final as (
    select
        file_id,
        source_file,
        landed_date,
        line_number,
        raw_line,
        parse_error,
        event_id,
        customer_id,
        meter,
        event_timestamp_text,
        quantity_text,
        properties,
        event_at,
        quantity,
        cast(event_at as date) as usage_date,
        ingested_at
    from typed
)

select * from final
