with source as (
    select * from {{ source('stripe', 'price_tiers') }}
),

final as (
    select
        price as price_id,
        tier_index,
        -- Inclusive upper bound; null is Stripe's up_to = inf (the last tier).
        up_to,
        -- Exact decimal strings from Stripe (minor units, up to 12 places); never a float.
        cast(coalesce(unit_amount_decimal, '0') as decimal(38, 12)) as unit_amount_decimal,
        cast(coalesce(flat_amount_decimal, '0') as decimal(38, 12)) as flat_amount_decimal
    from source
)

select * from final
