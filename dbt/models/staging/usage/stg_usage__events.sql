{#- Every text field's typed form (trimmed, '' as null) is the field itself. -#}
{%- set verbatim_checks = [] -%}
{#- trim(x) allocates a copy of every long text; a prefix/suffix `like` only tests it. trim
    removes spaces on both targets, so text that neither starts nor ends with one is its own
    trim (about 0.2 CPU s per 1M lines fewer). -#}
{%- set padded = {} -%}
{%- set trimmed = {} -%}
{%- for field in ['event_id', 'customer_id', 'meter', 'event_timestamp', 'quantity'] -%}
    {%- do padded.update({field: "(" ~ field ~ " like ' %' or " ~ field ~ " like '% ')"}) -%}
    {%- do trimmed.update({field: "(case when " ~ padded[field] ~ " then trim(" ~ field ~ ") else " ~ field ~ " end)"}) -%}
    {%- do verbatim_checks.append('(' ~ field ~ ' is null or (' ~ field ~ " <> '' and not " ~ padded[field] ~ '))') -%}
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
        nullif({{ trimmed['event_id'] }}, '') as event_id,
        nullif({{ trimmed['customer_id'] }}, '') as customer_id,
        nullif({{ trimmed['meter'] }}, '') as meter,
        nullif({{ trimmed['event_timestamp'] }}, '') as event_timestamp_text,
        nullif({{ trimmed['quantity'] }}, '') as quantity_text,
        properties,
        {{ safe_cast_utc_timestamp(trimmed['event_timestamp']) }} as event_at,
        {{ safe_cast_quantity(trimmed['quantity']) }} as quantity,
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
