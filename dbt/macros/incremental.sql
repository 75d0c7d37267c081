{#- Daily incremental runs. The run's day is var `run_date` when given (unit tests' overrides,
    `--vars` by hand), else the environment variable TOLLGATE_RUN_DATE (what Dagster and the
    benchmark set: a new `--vars` value on every call makes dbt re-parse the whole project,
    a changed environment variable does not). A run with neither (a first build, `dbt build`
    by hand) recomputes everything. Each daily run touches:
      * events: only lines landed on run_date, plus lines still held for reference data
        (unknown_meter/customer, ambiguous_customer) whose usage Stripe could still accept;
      * the dedupe lookup: canonical events landed within dedupe_lookback_days of run_date;
      * customer x meter x day rows: only the keys the run's landing days contribute to
        (touched_usage), all within the last late_arrival_days of usage dates; the push
        input recomputes each touched customer and meter from its first touched day.
    Nothing scales with the length of history: the push input's total before the window is
    carried from run to run (int_usage_cumulative_before_window). -#}

{% macro run_date() -%}
    {%- set day = var('run_date', none) -%}
    {%- if day is none -%}{%- set day = env_var('TOLLGATE_RUN_DATE', '') or none -%}{%- endif -%}
    {{ return(day) }}
{%- endmacro %}

{#- True when this model should process only the run's day (table exists and a day was given). -#}
{% macro is_daily_increment() -%}
    {#- run_date first: a unit test without one never asks is_incremental() (it has no `this`). -#}
    {%- if tollgate.run_date() is none -%}{{ return(false) }}{%- endif -%}
    {{ return(is_incremental()) }}
{%- endmacro %}

{% macro date_literal(day) -%}
    cast('{{ day.isoformat() }}' as date)
{%- endmacro %}

{#- run_date minus `days`, as a SQL date literal. -#}
{% macro run_date_minus(days) -%}
    {%- set d = modules.datetime.date.fromisoformat(tollgate.run_date()) - modules.datetime.timedelta(days=days) -%}
    {{ tollgate.date_literal(d) }}
{%- endmacro %}

{#- How far back (landing days) an earlier copy of an event accepted today can have landed.
    An accepted event lies at most late_arrival_days before its landing day (else too_late),
    and its earlier copy landed at most 1 day (+ the clock-skew minutes) before the event
    (else future_timestamp): late_arrival_days + 1 landing days back is enough for every
    copy with the same content. -#}
{% macro dedupe_lookback_days() -%}
    {{ return(var('late_arrival_days') + 1) }}
{%- endmacro %}

{#- First usage date a daily run can change: older events are too_late for Stripe. -#}
{% macro usage_window_start() -%}
    {{ tollgate.run_date_minus(var('late_arrival_days')) }}
{%- endmacro %}

{#- Tests scoped to the run: a `where` config may use __run_date__, __usage_window_start__ and
    __dedupe_window_start__; without a run_date the whole filter is dropped (test everything). -#}
{#- Fill the run placeholders of a SQL fragment: __run_date__, __usage_window_start__,
    __dedupe_window_start__, __dedupe_window_end__ and __touched_usage__ (a subquery, see
    touched_usage). Without a run_date, `none`. -#}
{% macro fill_run_placeholders(sql) -%}
    {%- if tollgate.run_date() is none -%}{{ return(none) }}{%- endif -%}
    {%- set lookback = tollgate.dedupe_lookback_days() | int -%}
    {%- if '__touched_usage__' in sql -%}
        {%- set sql = sql | replace('__touched_usage__', '(' ~ tollgate.touched_usage() ~ ')') -%}
    {%- endif -%}
    {{ return(sql
        | replace('__run_date__', tollgate.run_date_minus(0))
        | replace('__usage_window_start__', tollgate.usage_window_start())
        | replace('__dedupe_window_start__', tollgate.run_date_minus(lookback))
        | replace('__dedupe_window_end__', tollgate.run_date_minus(-lookback))) }}
{%- endmacro %}

{#- Tests scoped to the run: a `where` config may use the run placeholders above; without a
    run_date (a full build) the filter is dropped and the test covers everything. -#}
{% macro get_where_subquery(relation) -%}
    {% set where = config.get('where') %}
    {% if where and '__' in where %}
        {% set where = tollgate.fill_run_placeholders(where) %}
    {% endif %}
    {% if where %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {% do return(filtered) %}
    {%- else -%}
        {% do return(relation) %}
    {%- endif -%}
{%- endmacro %}

{#- Incremental strategy `replace_window`, the same SQL on DuckDB and PostgreSQL:
      delete the target rows in `replace_where` (the partition or window the model recomputes;
      `__batch__` names the new rows, `__this__` the target, `tgt` a target row), and the rows
      whose unique_key is in the new batch (bounded by incremental_predicates), then insert the
      batch. Rerunning a day replaces what the day wrote, never duplicates it. Without a
      run_date the model recomputed everything, so everything is replaced. -#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- set cols = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- if unique_key is string -%}{%- set unique_key = [unique_key] -%}{%- endif -%}
    {%- if tollgate.run_date() is none -%}
        {%- set clauses = ['1 = 1'] -%}
    {%- else -%}
        {%- set clauses = [] -%}
        {%- set replace_where = config.get('replace_where') -%}
        {%- if replace_where -%}
            {%- do clauses.append('(' ~ tollgate.fill_run_placeholders(replace_where) | replace('__batch__', source | string) | replace('__this__', target | string) ~ ')') -%}
        {%- endif -%}
        {%- if unique_key -%}
            {%- set key_match -%}
                ({% for p in (arg_dict['incremental_predicates'] or []) %}({{ tollgate.fill_run_placeholders(p) }}) and {% endfor %}exists (
                    select 1 from {{ source }} as batch
                    where {% for k in unique_key %}batch.{{ k }} = tgt.{{ k }}{% if not loop.last %} and {% endif %}{% endfor %}
                ))
            {%- endset -%}
            {%- do clauses.append(key_match) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if clauses %}
    delete from {{ target }} as tgt where {{ clauses | join(' or ') }};
    {% endif %}
    insert into {{ target }} ({{ cols }})
    select {{ cols }} from {{ source }}
{%- endmacro %}

{#- Landing days whose per-day results (contributions, file accounting) a daily run recomputes:
    the run's day, and the days of held lines this run accepted or found to be duplicates
    (held lines that stay quarantined change no count). -#}
{% macro recomputed_landing_days() -%}
    {%- set query -%}
    select {{ tollgate.run_date_minus(0) }} as landed_date
    union
    select distinct landed_date
    from {{ ref('int_usage_events_classified') }}
    where classified_on = {{ tollgate.run_date_minus(0) }}
      and landed_date <> {{ tollgate.run_date_minus(0) }}
      and status <> 'quarantined'
    {%- endset -%}
    {#- Looked up once and written as literal days when the model runs: as a subquery, DuckDB
        hashed every contribution row's landing day to match a handful of days, and literal
        days let it skip other days' row groups. A unit test (fixture rows, no table to ask)
        keeps the subquery. -#}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set days = run_query(query).columns[0].values() -%}
        {%- for day in days %}cast('{{ (day | string)[:10] }}' as date){% if not loop.last %}, {% endif %}{% endfor -%}
    {%- else -%}
        {{ query }}
    {%- endif -%}
{%- endmacro %}

{#- Stripe customer x meter x usage day keys whose usage this daily run may have changed: every
    key a recomputed landing day contributes to (int_usage_daily_contributions). A key a rerun
    emptied is still there, with nothing in it, so it is recomputed (and removed) too. A model
    using it needs `-- depends_on:` int_usage_daily_contributions and
    int_usage_events_classified (the daily branch is not rendered when dbt parses). -#}
{% macro touched_usage() -%}
    select stripe_customer_id, meter_event_name, usage_date
    from {{ ref('int_usage_daily_contributions') }}
    where landed_date in ({{ tollgate.recomputed_landing_days() }})
{%- endmacro %}

{#- First changed usage day per Stripe customer and meter, from touched usage keys (`touched`:
    a parenthesised subquery, or the `__touched_usage__` placeholder in a replace_where): the
    push input recomputes each such customer and meter from that day on. -#}
{% macro first_touched_days(touched) -%}
    select stripe_customer_id, meter_event_name, min(usage_date) as from_date
    from {{ touched }} as touched_usage
    group by stripe_customer_id, meter_event_name
{%- endmacro %}

{#- Reasons that depend on Stripe reference data: such lines are held and examined again. -#}
{% macro held_reasons() -%}
    ('unknown_meter', 'unknown_customer', 'ambiguous_customer', 'no_subscription')
{%- endmacro %}
