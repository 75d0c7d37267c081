with source as (
    select * from {{ source('stripe', 'subscription_discounts') }}
),

final as (
    select
        id as discount_id,
        subscription as subscription_id,
        coupon as coupon_id,
        starts_at,
        -- Set for repeating coupons only: start + duration_in_months.
        ends_at
    from source
)

select * from final
