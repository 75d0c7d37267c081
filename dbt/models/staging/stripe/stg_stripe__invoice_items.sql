with source as (
    select * from {{ source('stripe', 'invoice_items') }}
),

final as (
    select
        id as invoice_item_id,
        customer as stripe_customer_id,
        subscription as subscription_id,
        subscription_item as subscription_item_id,
        invoice as invoice_id,
        amount,
        lower(currency) as currency,
        price as price_id,
        quantity,
        period_start,
        period_end,
        proration as is_proration,
        discountable as is_discountable,
        description,
        date as created_at
    from source
)

select * from final
