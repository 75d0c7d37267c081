-- depends_on: {{ ref('int_usage_events_classified') }}
-- Per landed file: lines landed = accepted + duplicates + quarantined (checked by a test).
-- Incremental: a daily run recounts the files of the landing days whose lines it classified
-- or changed (recomputed_landing_days), and replaces their rows.
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    replace_where='landed_date in (select landed_date from __batch__) or landed_date = __run_date__',
) }}
{%- set daily = tollgate.is_daily_increment() %}
{#- Asked once: each call looks the days up in the warehouse. -#}
{%- set recomputed_days = tollgate.recomputed_landing_days() if daily else none %}

with files as (
    select * from {{ ref('stg_usage__landing_files') }}
    {%- if daily %}
    where landed_date in ({{ recomputed_days }})
    {%- endif %}
),

-- The stored outcomes rather than the int_usage_events_classified view: a line's status is
-- all that is counted, and the view also looks up each line's file.
outcomes as (
    select
        file_id,
        {{ tollgate.line_status('detail') }} as status
    from {{ ref('int_usage_line_outcomes') }}
    {%- if daily %}
    where landed_date in ({{ recomputed_days }})
    {%- endif %}
),

per_file as (
    select
        file_id,
        count(*) as lines_classified,
        cast(sum(case when status = 'accepted' then 1 else 0 end) as bigint) as accepted,
        cast(sum(case when status = 'duplicate' then 1 else 0 end) as bigint) as duplicates,
        cast(sum(case when status = 'quarantined' then 1 else 0 end) as bigint) as quarantined
    from outcomes
    group by file_id
),

final as (
    select
        files.file_id,
        files.source_file,
        files.landed_date,
        files.file_format,
        files.lines_landed,
        coalesce(per_file.lines_classified, 0) as lines_classified,
        coalesce(per_file.accepted, 0) as accepted,
        coalesce(per_file.duplicates, 0) as duplicates,
        coalesce(per_file.quarantined, 0) as quarantined
    from files
    left join per_file on files.file_id = per_file.file_id
)

select * from final
