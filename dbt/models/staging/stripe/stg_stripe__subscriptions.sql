with source as (
    select * from {{ source('stripe', 'subscriptions') }}
),

final as (
    select
        id as subscription_id,
        customer as stripe_customer_id,
        status,
        lower(currency) as currency,
        cancel_at_period_end,
        created as created_at,
        canceled_at,
        ended_at
    from source
)

select * from final
