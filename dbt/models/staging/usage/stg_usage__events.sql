{#- Every text field's typed form (trimmed, '' as null) is the field itself. -#}
{%- set verbatim_checks = [] -%}
{%- for field in ['event_id', 'customer_id', 'meter', 'event_timestamp', 'quantity'] -%}
    {%- do verbatim_checks.append('(' ~ field ~ ' is null or (' ~ field ~ " <> '' and " ~ field ~ ' = trim(' ~ field ~ ')))') -%}
{%- endfor -%}
{%- set fields_verbatim = verbatim_checks | join('\n        and ') -%}
{%- set landed_without_text = '(raw_line is null and parse_error is null)' -%}
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
        -- Parquet rows landed without their text (see usage_event_json): rebuilt here only
        -- when the typed fields below differ from the landed ones; otherwise a consumer that
        -- shows the line rebuilds it from them (raw_line_from_fields), and only for the lines
        -- it shows, instead of for every line of the day.
        case
            when {{ landed_without_text }} and not ({{ fields_verbatim }})
                then {{ tollgate.usage_event_json('event_id', 'customer_id', 'meter', 'event_timestamp', 'quantity', 'properties') }}
            else raw_line
        end as raw_line,
        coalesce({{ landed_without_text }} and {{ fields_verbatim }}, false) as raw_line_from_fields,
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
        raw_line_from_fields,
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
