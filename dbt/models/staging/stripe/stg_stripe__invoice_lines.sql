with source as (
    select * from {{ source('stripe', 'invoice_lines') }}
),

final as (
    select
        id as invoice_line_id,
        invoice as invoice_id,
        amount,
        lower(currency) as currency,
        quantity,
        price as price_id,
        period_start,
        period_end,
        description,
        subscription_item as subscription_item_id,
        coalesce(proration, false) as is_proration
    from source
)

select * from final
