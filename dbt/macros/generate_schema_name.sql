{#- Models land in the schema their folder names (staging, intermediate, marts), unprefixed,
    so a BI tool sees stable names: marts.fct_usage_daily, not main_marts.fct_usage_daily. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
