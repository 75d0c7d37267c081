{{ config(meta={"dagster": {"ref": {"name": "fct_meter_push_input"}}}) }}
-- The whole units asked of Stripe never exceed the exact accepted usage, and fall short of it
-- only by the carried remainder (less than one unit) per customer and meter. Accepted usage is
-- read from the per-landing-day contributions (sums of accepted events, customer-day sized), so
-- the test costs the same on the hundredth day as on the first.
with usage as (
    select stripe_customer_id, meter_event_name as meter, sum(quantity) as quantity
    from {{ ref('int_usage_daily_contributions') }}
    group by stripe_customer_id, meter_event_name
),

pushed as (
    select stripe_customer_id, meter_event_name as meter, sum(desired_value) as desired_value
    from {{ ref('fct_meter_push_input') }}
    group by stripe_customer_id, meter_event_name
)

select usage.stripe_customer_id, usage.meter, usage.quantity, pushed.desired_value
from usage
full outer join pushed
    on usage.stripe_customer_id = pushed.stripe_customer_id and usage.meter = pushed.meter
where pushed.desired_value is null
   or usage.quantity is null
   or pushed.desired_value > usage.quantity
   or usage.quantity - pushed.desired_value >= 1
