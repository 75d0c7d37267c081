-- The platform's customer key -> exactly one Stripe customer. A key claimed by several Stripe
-- customers is ambiguous: its usage is held rather than billed to a guess.
with customers as (
    select * from {{ ref('stg_stripe__customers') }}
),

keyed as (
    select
        customer_id,
        count(*) as stripe_customer_count,
        min(stripe_customer_id) as stripe_customer_id
    from customers
    where customer_id is not null
    group by customer_id
),

final as (
    select
        customer_id,
        case when stripe_customer_count = 1 then stripe_customer_id end as stripe_customer_id,
        stripe_customer_count > 1 as is_ambiguous
    from keyed
)

select * from final
