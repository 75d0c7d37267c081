-- The items of live subscriptions with their price, customer and current billing period
-- (Stripe keeps current_period_start/end on each item since the basil API version).
with items as (
    select * from {{ ref('stg_stripe__subscription_items') }}
),

subscriptions as (
    select * from {{ ref('stg_stripe__subscriptions') }}
),

prices as (
    select * from {{ ref('stg_stripe__prices') }}
),

products as (
    select * from {{ ref('stg_stripe__products') }}
),

customers as (
    select * from {{ ref('stg_stripe__customers') }}
),

final as (
    select
        items.subscription_item_id,
        items.subscription_id,
        subscriptions.stripe_customer_id,
        customers.customer_id,
        subscriptions.currency,
        coalesce(subscriptions.cancel_at_period_end, false) as cancel_at_period_end,
        items.price_id,
        prices.product_id,
        coalesce(prices.nickname, products.product_name, items.price_id) as price_label,
        prices.billing_scheme,
        prices.tiers_mode,
        prices.unit_amount_decimal,
        prices.transform_divide_by,
        prices.transform_round,
        prices.recurring_usage_type as usage_type,
        prices.recurring_interval,
        prices.recurring_interval_count,
        prices.meter_id,
        items.quantity,
        items.current_period_start as period_start,
        items.current_period_end as period_end,
        items.created_at as item_created_at,
        subscriptions.created_at as subscription_created_at
    from items
    inner join subscriptions on items.subscription_id = subscriptions.subscription_id
    inner join prices on items.price_id = prices.price_id
    left join products on prices.product_id = products.product_id
    left join customers on subscriptions.stripe_customer_id = customers.stripe_customer_id
    where subscriptions.status in ('active', 'trialing', 'past_due')
)

select * from final
