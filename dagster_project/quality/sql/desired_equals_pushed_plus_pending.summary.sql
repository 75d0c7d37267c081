with outcomes as (
    select * from push.meter_event_latest_outcomes
)
select
    (select coalesce(sum(desired_value), 0) from marts.fct_meter_push_input) as desired_units,
    coalesce(sum(case when o.outcome = 'delivered' then i.value end), 0) as pushed_units,
    coalesce(sum(case when o.outcome is null then i.value end), 0) as pending_units,
    count(*) filter (where o.outcome = 'delivered') as meter_events_pushed,
    count(*) filter (where o.outcome is null) as meter_events_pending,
    count(*) filter (where o.outcome = 'rejected') as meter_events_failed
from push.meter_event_intents i
left join outcomes o using (identifier)
