with source as (
    select * from {{ source('stripe', 'subscription_items') }}
),

final as (
    select
        id as subscription_item_id,
        subscription as subscription_id,
        price as price_id,
        quantity,
        current_period_start,
        current_period_end,
        created as created_at,
        extracted_at
    from source
)

select * from final
