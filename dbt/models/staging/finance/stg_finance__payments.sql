with source as (
    select * from {{ source('finance', 'payments') }}
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

final as (
    select
        source.payment_id,
        source.customer_id,
        customers.stripe_customer_id,
        lower(source.currency) as currency,
        source.amount,
        source.paid_at,
        source.invoice_id
    from source
    left join customers on source.customer_id = customers.customer_id
)

select * from final
