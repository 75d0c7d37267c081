-- Cumulative accepted quantity per Stripe customer and meter over every usage day before the
-- late-arrival window (usage_date < through_date): the carried state fct_meter_push_input starts
-- each customer and meter from, so a daily run never sums history.
--
-- Why carrying is exact: a daily run for run_date R changes usage only on days >= R -
-- late_arrival_days (older events are too_late, held lines are accepted only inside the
-- window), so days before the window are final once runs move forward. Each daily run:
--   * carry   (window start >= through_date, the usual case): the previous state plus the
--             usage days that left the window since (one day for consecutive runs);
--             a rerun of the same day adds nothing;
--   * rebuild (no state yet, --full-refresh, or a run for an earlier day than the state's,
--             whose window may have changed days already carried): the sum of every day
--             before the window, which is what this state replaces;
--   * a run without run_date recomputes everything downstream and needs no state: empty, so
--             the next daily run rebuilds it.
-- The state is a pure function of int_usage_daily_contributions, so a full refresh rebuilds it
-- exactly; it needs no protection from --full-refresh.
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    replace_where='1 = 1',
) }}
{%- set mode = 'empty' %}
{%- if tollgate.run_date() is not none %}
    {%- set window_start = tollgate.usage_window_start() %}
    {%- set window_start_day = (modules.datetime.date.fromisoformat(tollgate.run_date())
        - modules.datetime.timedelta(days=var('late_arrival_days'))).isoformat() %}
    {%- set mode = 'rebuild' %}
    {%- if tollgate.is_daily_increment() and execute %}
        {%- set through = run_query('select max(through_date) from ' ~ this).columns[0].values()[0] %}
        {%- if through is not none and (through | string)[:10] <= window_start_day %}
            {%- set mode = 'carry' %}
            {%- set through_day = (through | string)[:10] %}
        {%- endif %}
    {%- endif %}
{%- endif %}

with contributions as (
    select * from {{ ref('int_usage_daily_contributions') }}
),

{%- if mode == 'carry' %}

carried as (
    select
        stripe_customer_id,
        meter_event_name,
        quantity
    from {{ this }}
),

left_the_window as (
    select
        stripe_customer_id,
        meter_event_name,
        quantity
    from contributions
    where usage_date >= cast('{{ through_day }}' as date)
      and usage_date < {{ window_start }}
),

before_window as (
    select * from carried
    union all
    select * from left_the_window
),

{%- elif mode == 'rebuild' %}

before_window as (
    select
        stripe_customer_id,
        meter_event_name,
        quantity
    from contributions
    where usage_date < {{ window_start }}
),

{%- else %}

before_window as (
    select
        stripe_customer_id,
        meter_event_name,
        quantity
    from contributions
    where 1 = 0
),

{%- endif %}

final as (
    select
        stripe_customer_id,
        meter_event_name,
        cast(sum(quantity) as decimal(38, 12)) as quantity,
        {%- if mode == 'empty' %}
        cast(null as date) as through_date
        {%- else %}
        {{ window_start }} as through_date
        {%- endif %}
    from before_window
    group by stripe_customer_id, meter_event_name
)

select * from final
