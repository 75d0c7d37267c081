-- Which Stripe customer has (or had) a subscription that bills which meter, and until when.
-- One row per subscription item whose price charges for a meter. Usage is billable when its
-- customer has such a row for its meter whose subscription had not ended at the event time;
-- otherwise it is held as `no_subscription` (revenue at risk) until a subscription appears.
-- The subscription's start is deliberately not compared: usage recorded before a subscription
-- was set up is billed once it exists (Stripe puts it on the open period).
with subscriptions as (
    select * from {{ ref('stg_stripe__subscriptions') }}
),

items as (
    select * from {{ ref('stg_stripe__subscription_items') }}
),

prices as (
    select * from {{ ref('stg_stripe__prices') }}
),

final as (
    select
        subscriptions.stripe_customer_id,
        prices.meter_id,
        subscriptions.subscription_id,
        items.subscription_item_id,
        items.price_id,
        subscriptions.status as subscription_status,
        subscriptions.created_at as subscription_created_at,
        subscriptions.ended_at as subscription_ended_at
    from items
    join subscriptions on items.subscription_id = subscriptions.subscription_id
    join prices on items.price_id = prices.price_id
    where prices.meter_id is not null
      -- Never started: Stripe will not invoice it.
      and subscriptions.status <> 'incomplete_expired'
)

select * from final
