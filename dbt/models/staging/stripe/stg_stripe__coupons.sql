with source as (
    select * from {{ source('stripe', 'coupons') }}
),

final as (
    select
        id as coupon_id,
        -- Stripe sends percent_off as a JSON number; the extractor keeps its text.
        cast(percent_off as decimal(38, 12)) as percent_off,
        amount_off,
        lower(currency) as currency,
        duration,
        duration_in_months,
        valid as is_valid,
        created as created_at
    from source
)

select * from final
