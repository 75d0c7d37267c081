with source as (
    select * from {{ source('finance', 'credit_notes') }}
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

final as (
    select
        source.credit_note_id,
        source.customer_id,
        customers.stripe_customer_id,
        source.invoice_id,
        lower(source.currency) as currency,
        source.amount,
        source.issued_at,
        source.reason
    from source
    left join customers on source.customer_id = customers.customer_id
)

select * from final
