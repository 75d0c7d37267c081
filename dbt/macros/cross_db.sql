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
{% macro postgres__safe_cast_utc_timestamp(expr) -%}
    case when {{ tollgate.regex_matches(expr, tollgate.rfc3339_pattern()) }}
         then cast({{ expr }} as timestamptz) at time zone 'UTC' end
{%- endmacro %}

{#- A timestamp plus a whole number of units ('day', 'minute'). -#}
{% macro add_interval(expr, amount, unit) -%}
    ({{ expr }} + cast({{ amount }} || ' {{ unit }}' as interval))
{%- endmacro %}

{#- Deterministic hex digest of the given expressions (surrogate keys). -#}
{% macro hash_key(exprs) -%}
    md5({% for e in exprs %}coalesce(cast({{ e }} as varchar), '<null>'){% if not loop.last %} || '|' || {% endif %}{% endfor %})
{%- endmacro %}

{#- True when JSON text is an object. -#}
{% macro json_is_object(expr) -%}
    {{ return(adapter.dispatch('json_is_object', 'tollgate')(expr)) }}
{%- endmacro %}
{% macro default__json_is_object(expr) -%}
    (case when json_valid({{ expr }}) then json_type({{ expr }}) = 'OBJECT' else false end)
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
