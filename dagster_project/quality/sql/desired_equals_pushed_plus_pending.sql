-- Conservation: for every (customer, meter, day) the warehouse wants in Stripe,
--   desired = pushed (delivered) + pending (sent, outcome unknown) + failed (last attempt
--             rejected by Stripe, or lost: not in Stripe when read back) + held (older than Stripe's 35-day window, not sent).
-- A row here is usage that is neither in Stripe nor on its way nor explained: a push bug.
with desired as (
    select push_key, stripe_customer_id, meter_event_name, usage_date, desired_value
    from marts.fct_meter_push_input
    union all
    -- keys pushed before and gone from the push input since: Stripe should hold 0
    select distinct push_key, stripe_customer_id, meter_event_name, usage_date, 0
    from push.meter_event_intents
    where push_key not in (select push_key from marts.fct_meter_push_input)
),
outcomes as (
    select * from push.meter_event_latest_outcomes
),
logged as (
    select
        i.push_key,
        sum(case when o.outcome = 'delivered' then i.value else 0 end) as pushed,
        sum(case when o.outcome is null then i.value else 0 end) as pending,
        arg_max(o.outcome, i.sequence_number) as last_outcome,
        arg_max(i.value, i.sequence_number) as last_value
    from push.meter_event_intents i
    left join outcomes o using (identifier)
    group by i.push_key
),
balanced as (
    select
        d.stripe_customer_id,
        d.meter_event_name,
        d.usage_date,
        d.desired_value as desired,
        coalesce(l.pushed, 0) as pushed,
        coalesce(l.pending, 0) as pending,
        case when l.last_outcome in ('rejected', 'lost') then l.last_value else 0 end as failed,
        case when cast(d.usage_date as timestamp) < now()::timestamp - interval 35 days + interval 1 hour
             then d.desired_value - coalesce(l.pushed, 0) - coalesce(l.pending, 0) else 0 end as held
    from desired d
    left join logged l using (push_key)
)
select
    *,
    desired - pushed - pending - failed - held as unexplained
from balanced
where desired <> pushed + pending + failed + held
