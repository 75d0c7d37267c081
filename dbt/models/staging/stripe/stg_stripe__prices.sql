with source as (
    select * from {{ source('stripe', 'prices') }}
),

final as (
    select
        id as price_id,
        product as product_id,
        lower(currency) as currency,
        unit_amount,
        -- Stripe sends the exact unit price as a decimal string (sub-cent prices allowed).
        cast(unit_amount_decimal as decimal(38, 12)) as unit_amount_decimal,
        billing_scheme,
        tiers_mode,
        tiers as tiers_json,
        transform_divide_by,
        transform_round,
        price_type,
        recurring_interval,
        recurring_interval_count,
        recurring_usage_type,
        recurring_meter as meter_id,
        nickname,
        lookup_key,
        active as is_active,
        created as created_at
    from source
)

select * from final
