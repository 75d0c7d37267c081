-- Metadata of prices and subscriptions, one row per key: where Tollgate's own billing terms
-- (minimum commitment, usage limits) live on Stripe objects.
with prices as (
    select * from {{ source('stripe', 'price_metadata') }}
),

subscriptions as (
    select * from {{ source('stripe', 'subscription_metadata') }}
),

final as (
    select 'price' as object_type, price as object_id, key as metadata_key, value as metadata_value
    from prices
    union all
    select 'subscription', subscription, key, value
    from subscriptions
)

select * from final
