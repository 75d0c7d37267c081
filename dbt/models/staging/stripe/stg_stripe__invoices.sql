with source as (
    select * from {{ source('stripe', 'invoices') }}
),

final as (
    select
        id as invoice_id,
        customer as stripe_customer_id,
        subscription as subscription_id,
        status,
        lower(currency) as currency,
        period_start,
        period_end,
        subtotal,
        total,
        amount_due,
        created as created_at
    from source
)

select * from final
