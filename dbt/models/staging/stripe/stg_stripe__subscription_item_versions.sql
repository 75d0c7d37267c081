with source as (
    select * from {{ source('stripe', 'subscription_item_versions') }}
),

final as (
    select
        id as item_version_id,
        subscription_item as subscription_item_id,
        subscription as subscription_id,
        price as price_id,
        quantity,
        observed_at
    from source
)

select * from final
