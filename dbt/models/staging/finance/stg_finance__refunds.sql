-- A refund belongs to the customer and currency of the payment it returns.
with source as (
    select * from {{ source('finance', 'refunds') }}
),

payments as (
    select * from {{ ref('stg_finance__payments') }}
),

final as (
    select
        source.refund_id,
        source.payment_id,
        payments.customer_id,
        payments.stripe_customer_id,
        payments.currency,
        source.amount,
        source.refunded_at
    from source
    left join payments on source.payment_id = payments.payment_id
)

select * from final
