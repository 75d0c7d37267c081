{#- Cross-database helpers of our own (dbt_utils cannot be installed here).
    Each has a DuckDB default and a PostgreSQL variant; add a dispatch for another warehouse. -#}

{#- Text that is a plain decimal number (optional sign, digits, optional fraction or exponent). -#}
{% macro decimal_pattern() -%}
'^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$'
{%- endmacro %}

{#- RFC 3339 date-time with an explicit offset (Z or +hh:mm, hh 00-23, mm 00-59: DuckDB's own
    parser would take +99:99 and shift the event by four days). -#}
{% macro rfc3339_pattern() -%}
'^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$'
{%- endmacro %}

{% macro regex_matches(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'tollgate')(expr, pattern)) }}
{%- endmacro %}
{% macro default__regex_matches(expr, pattern) -%}
    regexp_full_match({{ expr }}, {{ pattern }})
{%- endmacro %}
{% macro postgres__regex_matches(expr, pattern) -%}
    ({{ expr }} ~ {{ pattern }})
{%- endmacro %}

{#- Text -> DECIMAL(38, 12), or null when it is not a number that fits. Never through a float. -#}
{% macro safe_cast_quantity(expr) -%}
    {{ return(adapter.dispatch('safe_cast_quantity', 'tollgate')(expr)) }}
{%- endmacro %}
{% macro default__safe_cast_quantity(expr) -%}
    case when {{ tollgate.regex_matches('trim(' ~ expr ~ ')', tollgate.decimal_pattern()) }}
         then try_cast(trim({{ expr }}) as decimal(38, 12)) end
{%- endmacro %}
{% macro postgres__safe_cast_quantity(expr) -%}
    {#- numeric accepts exponents; a value too large for (38,12) must not abort the run, so the
        magnitude is bounded first (26 integer digits). -#}
    case when {{ tollgate.regex_matches('trim(' ~ expr ~ ')', tollgate.decimal_pattern()) }}
          and abs(cast(trim({{ expr }}) as numeric)) < 1e26
         then cast(cast(trim({{ expr }}) as numeric) as decimal(38, 12)) end
{%- endmacro %}

{#- RFC 3339 text -> timestamp without time zone, in UTC; null when it is not RFC 3339. -#}
{% macro safe_cast_utc_timestamp(expr) -%}
    {{ return(adapter.dispatch('safe_cast_utc_timestamp', 'tollgate')(expr)) }}
{%- endmacro %}
{% macro default__safe_cast_utc_timestamp(expr) -%}
    case when {{ tollgate.regex_matches(expr, tollgate.rfc3339_pattern()) }}
         then try_cast({{ expr }} as timestamptz) at time zone 'UTC' end
{%- endmacro %}
{#- DuckDB: the same instant, read as UTC without `at time zone` (an ICU calendar conversion
    per row: 0.6 CPU s of 1.1 per 10M lines); epoch microseconds are UTC by definition. -#}
{% macro duckdb__safe_cast_utc_timestamp(expr) -%}
    case when {{ tollgate.regex_matches(expr, tollgate.rfc3339_pattern()) }}
         then make_timestamp(epoch_us(try_cast({{ expr }} as timestamptz))) end
{%- endmacro %}
{% macro postgres__safe_cast_utc_timestamp(expr) -%}
    case when {{ tollgate.regex_matches(expr, tollgate.rfc3339_pattern()) }}
         then cast({{ expr }} as timestamptz) at time zone 'UTC' end
{%- endmacro %}

{#- A timestamp plus a whole number of units ('day', 'minute'). -#}
{% macro add_interval(expr, amount, unit) -%}
    ({{ expr }} + cast({{ amount }} || ' {{ unit }}' as interval))
{%- endmacro %}

{#- A key that groups and joins like the text it is computed from, possibly with collisions
    (so only where a collision is harmless): DuckDB's 64-bit hash, the text itself elsewhere. -#}
{% macro text_hash(expr) -%}
    {{ return(adapter.dispatch('text_hash', 'tollgate')(expr)) }}
{%- endmacro %}
{% macro default__text_hash(expr) -%}{{ expr }}{%- endmacro %}
{% macro duckdb__text_hash(expr) -%}hash({{ expr }}){%- endmacro %}

{#- Deterministic hex digest of the given expressions (surrogate keys). -#}
{% macro hash_key(exprs) -%}
    md5({% for e in exprs %}coalesce(cast({{ e }} as varchar), '<null>'){% if not loop.last %} || '|' || {% endif %}{% endfor %})
{%- endmacro %}

{#- True when JSON text is an object. -#}
{% macro json_is_object(expr) -%}
    {{ return(adapter.dispatch('json_is_object', 'tollgate')(expr)) }}
{%- endmacro %}
{% macro default__json_is_object(expr) -%}
    {#- Valid JSON text that starts with `{` and ends with `}` is an object: one parse instead of
        two for the usual minified object. -#}
    (case when starts_with({{ expr }}, '{') and ends_with({{ expr }}, '}') then json_valid({{ expr }})
          when json_valid({{ expr }}) then json_type({{ expr }}) = 'OBJECT'
          else false end)
{%- endmacro %}
{% macro postgres__json_is_object(expr) -%}
    (jsonb_typeof(cast({{ expr }} as jsonb)) = 'object')
{%- endmacro %}

{#- A Parquet row as JSON text, exactly as ingestion writes raw_line (keys in the contract's
    order, compact). Parquet rows whose text fields hold the whole row are landed without a
    raw_line (dagster_project/ingest/landing.py) and rebuilt with this where they are shown. -#}
{% macro usage_event_json(event_id, customer_id, meter, event_timestamp, quantity, properties) -%}
    {{ return(adapter.dispatch('usage_event_json', 'tollgate')(event_id, customer_id, meter, event_timestamp, quantity, properties)) }}
{%- endmacro %}
{% macro default__usage_event_json(event_id, customer_id, meter, event_timestamp, quantity, properties) -%}
    cast(to_json(struct_pack(
        "event_id" := {{ event_id }}, "customer_id" := {{ customer_id }}, "meter" := {{ meter }},
        "timestamp" := {{ event_timestamp }}, "quantity" := {{ quantity }}, "properties" := {{ properties }}
    )) as varchar)
{%- endmacro %}
{% macro postgres__usage_event_json(event_id, customer_id, meter, event_timestamp, quantity, properties) -%}
    ('{"event_id":' || coalesce(cast(to_json({{ event_id }}) as text), 'null')
     || ',"customer_id":' || coalesce(cast(to_json({{ customer_id }}) as text), 'null')
     || ',"meter":' || coalesce(cast(to_json({{ meter }}) as text), 'null')
     || ',"timestamp":' || coalesce(cast(to_json({{ event_timestamp }}) as text), 'null')
     || ',"quantity":' || coalesce(cast(to_json({{ quantity }}) as text), 'null')
     || ',"properties":' || coalesce(cast(to_json({{ properties }}) as text), 'null') || '}')
{%- endmacro %}

{#- `materialized` for a CTE that several parts of a query read: computed once instead of once
    per reader (DuckDB otherwise inlines it and re-evaluates every expression in each reader).
    DuckDB and PostgreSQL (12+) both take `with x as materialized (...)`; other warehouses
    decide for themselves. -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'tollgate')()) }}
{%- endmacro %}
{% macro default__materialized_cte() -%}{%- endmacro %}
{% macro duckdb__materialized_cte() -%}materialized{%- endmacro %}
{% macro postgres__materialized_cte() -%}materialized{%- endmacro %}

{#- Text ordered by code point (Python's str order), whatever the database's collation: an
    order that decides who gets credit must not depend on the server's locale. -#}
{% macro binary_order(expr) -%}
    {{ return(adapter.dispatch('binary_order', 'tollgate')(expr)) }}
{%- endmacro %}
{% macro default__binary_order(expr) -%}
    {{ expr }}
{%- endmacro %}
{% macro postgres__binary_order(expr) -%}
    ({{ expr }} collate "C")
{%- endmacro %}

{#- True when the comma-separated text list (items trimmed of whitespace, as credits.py reads
    it) contains item. Plain string functions with the same meaning on every warehouse. -#}
{% macro csv_list_contains(list_expr, item_expr) -%}
    (position(',' || {{ item_expr }} || ',' in
        ',' || regexp_replace(regexp_replace({{ list_expr }}, '\s*,\s*', ',', 'g'), '^\s+|\s+$', '', 'g') || ',') > 0)
{%- endmacro %}

{#- Whole days from date a to date b (b - a). -#}
{% macro days_between(a, b) -%}
    {{ return(adapter.dispatch('days_between', 'tollgate')(a, b)) }}
{%- endmacro %}
{% macro default__days_between(a, b) -%}
    date_diff('day', cast({{ a }} as date), cast({{ b }} as date))
{%- endmacro %}
{% macro postgres__days_between(a, b) -%}
    (cast({{ b }} as date) - cast({{ a }} as date))
{%- endmacro %}

{#- An interval of a whole number of months or days from an integer expression (no float on
    the way: PostgreSQL's integer * interval goes through double precision). -#}
{% macro months_interval(n) -%}
    {{ return(adapter.dispatch('months_interval', 'tollgate')(n)) }}
{%- endmacro %}
{% macro default__months_interval(n) -%}
    to_months(cast({{ n }} as integer))
{%- endmacro %}
{% macro postgres__months_interval(n) -%}
    make_interval(months => cast({{ n }} as integer))
{%- endmacro %}
{% macro days_interval(n) -%}
    {{ return(adapter.dispatch('days_interval', 'tollgate')(n)) }}
{%- endmacro %}
{% macro default__days_interval(n) -%}
    to_days(cast({{ n }} as integer))
{%- endmacro %}
{% macro postgres__days_interval(n) -%}
    make_interval(days => cast({{ n }} as integer))
{%- endmacro %}

{#- Timestamps from start to stop (both included) one step apart, as a FROM item `alias(column)`:
    `cross join {{ tollgate.timestamp_series('a', 'b', 'day', 'days', 'day') }}`. The series
    may refer to tables earlier in the FROM clause (implicitly lateral on both warehouses). -#}
{% macro timestamp_series(start, stop, unit, alias, column) -%}
    generate_series(
        cast({{ start }} as timestamp),
        cast({{ stop }} as timestamp),
        {{ tollgate.unit_interval(unit) }}
    ) as {{ alias }}({{ column }})
{%- endmacro %}

{#- One calendar unit ('day' or 'month') as an interval literal both warehouses parse
    (DuckDB's `interval 1 day` is not PostgreSQL). -#}
{% macro unit_interval(unit) -%}
    {%- if unit not in ('day', 'month') -%}
        {{ exceptions.raise_compiler_error("unit_interval: day or month, not " ~ unit) }}
    {%- endif -%}
    interval '1 {{ unit }}'
{%- endmacro %}

{#- First day of the month of a date or timestamp, as a date. Truncated as a timestamp without
    time zone: PostgreSQL's date_trunc of a date goes through the session's time zone. -#}
{% macro month_start(expr) -%}
    cast(date_trunc('month', cast({{ expr }} as timestamp)) as date)
{%- endmacro %}

{#- A key for comparing two lines' content (the dedupe's "same content"), stored per line so
    an earlier line's content need not be. DuckDB: its 64-bit hash of the values, much cheaper
    to compute and store than a digest. Only lines with the same event_id are ever compared, and
    a collision can only turn a conflicting_duplicate into a duplicate: neither is billed.
    DuckDB does not promise the same hash across versions, so after an upgrade an exact copy of
    a line classified before it is quarantined as conflicting_duplicate instead (not billed
    either) until the dedupe window has passed. PostgreSQL: an md5 digest (hash_key). -#}
{% macro content_key(exprs) -%}
    {{ return(adapter.dispatch('content_key', 'tollgate')(exprs)) }}
{%- endmacro %}
{% macro default__content_key(exprs) -%}
    hash({{ exprs | join(', ') }})
{%- endmacro %}
{% macro postgres__content_key(exprs) -%}
    {{ hash_key(exprs) }}
{%- endmacro %}

{#- Text fields as one compact JSON object, keys in the given order (the same text on every
    warehouse). `fields`: [key, text expression] pairs. Used for a line's verdict details, kept
    only for lines that are not accepted (see int_usage_line_outcomes). -#}
{% macro line_detail_json(fields) -%}
    {{ return(adapter.dispatch('line_detail_json', 'tollgate')(fields)) }}
{%- endmacro %}
{% macro default__line_detail_json(fields) -%}
    cast(to_json(struct_pack(
        {%- for key, expr in fields %}"{{ key }}" := {{ expr }}{% if not loop.last %}, {% endif %}{% endfor -%}
    )) as varchar)
{%- endmacro %}
{% macro postgres__line_detail_json(fields) -%}
    ('{' {%- for key, expr in fields %} || '{% if not loop.first %},{% endif %}"{{ key }}":' || coalesce(cast(to_json({{ expr }}) as text), 'null'){% endfor %} || '}')
{%- endmacro %}

{#- One text field of line_detail_json (null when absent or null). -#}
{% macro line_detail_field(detail, field) -%}
    {{ return(adapter.dispatch('line_detail_field', 'tollgate')(detail, field)) }}
{%- endmacro %}
{% macro default__line_detail_field(detail, field) -%}
    json_extract_string({{ detail }}, '$.{{ field }}')
{%- endmacro %}
{% macro postgres__line_detail_field(detail, field) -%}
    (cast({{ detail }} as json) ->> '{{ field }}')
{%- endmacro %}

{#- A stored line's status (int_usage_line_outcomes): an accepted line is the one without
    detail; any other keeps its status in it. -#}
{% macro line_status(detail) -%}
    (case when {{ detail }} is null then 'accepted' else {{ tollgate.line_detail_field(detail, 'status') }} end)
{%- endmacro %}

{#- A stored line is the first occurrence of its event_id: accepted, or held for reference data
    (a held reason is only ever given to a first occurrence). -#}
{% macro line_is_canonical(detail) -%}
    ({{ detail }} is null or {{ tollgate.line_detail_field(detail, 'reason') }} in {{ tollgate.held_reasons() }})
{%- endmacro %}
