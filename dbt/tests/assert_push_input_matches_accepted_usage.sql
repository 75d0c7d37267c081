{{ config(meta={"dagster": {"ref": {"name": "fct_meter_push_input"}}}) }}
-- depends_on: {{ ref('int_usage_cumulative_before_window') }}
-- The whole units asked of Stripe match the exact accepted usage, read from the per-landing-day
-- contributions (sums of accepted events, customer-day sized). Contribution rows a rerun
-- emptied (event_count 0) are not usage.
--
-- A daily run checks its late-arrival window exactly, so the test's cost does not grow with
-- history: per customer and meter, the units of the window's days are
-- floor(before + usage in the window) - floor(before), where before is the carried total of
-- every earlier day (int_usage_cumulative_before_window). A build without run_date checks all
-- history: the units never exceed the usage and fall short of it by less than one unit.
{%- set daily = tollgate.run_date() is not none %}

with usage as (
    select stripe_customer_id, meter_event_name as meter, sum(quantity) as quantity
    from {{ ref('int_usage_daily_contributions') }}
    {%- if daily %}
    where usage_date >= {{ tollgate.usage_window_start() }}
    {%- endif %}
    group by stripe_customer_id, meter_event_name
    having sum(event_count) > 0
),

pushed as (
    select stripe_customer_id, meter_event_name as meter, sum(desired_value) as desired_value
    from {{ ref('fct_meter_push_input') }}
    {%- if daily %}
    where usage_date >= {{ tollgate.usage_window_start() }}
    {%- endif %}
    group by stripe_customer_id, meter_event_name
),

{%- if daily %}

before_window as (
    select stripe_customer_id, meter_event_name as meter, quantity
    from {{ ref('int_usage_cumulative_before_window') }}
),

compared as (
    select
        coalesce(usage.stripe_customer_id, pushed.stripe_customer_id) as stripe_customer_id,
        coalesce(usage.meter, pushed.meter) as meter,
        usage.quantity,
        pushed.desired_value,
        floor(coalesce(before_window.quantity, 0) + usage.quantity)
            - floor(coalesce(before_window.quantity, 0)) as expected_value
    from usage
    full outer join pushed
        on usage.stripe_customer_id = pushed.stripe_customer_id and usage.meter = pushed.meter
    left join before_window
        on before_window.stripe_customer_id = coalesce(usage.stripe_customer_id, pushed.stripe_customer_id)
        and before_window.meter = coalesce(usage.meter, pushed.meter)
)

select *
from compared
where desired_value is null
   or quantity is null
   or desired_value <> expected_value

{%- else %}

compared as (
    select usage.stripe_customer_id, usage.meter, usage.quantity, pushed.desired_value
    from usage
    full outer join pushed
        on usage.stripe_customer_id = pushed.stripe_customer_id and usage.meter = pushed.meter
)

select *
from compared
where desired_value is null
   or quantity is null
   or desired_value > quantity
   or quantity - desired_value >= 1

{%- endif %}
