-- Credit grants from raw_finance (operator / demo) and from the credit_grants seed, mapped to
-- the Stripe customer. A grant id present in both is taken from raw_finance.
with raw_grants as (
    select
        grant_id,
        customer_id,
        category,
        amount,
        currency,
        effective_at,
        expires_at,
        priority,
        applicable_meters,
        created_at,
        1 as source_rank
    from {{ source('finance', 'credit_grants') }}
),

seed_grants as (
    select
        cast(grant_id as varchar) as grant_id,
        cast(customer_id as varchar) as customer_id,
        cast(category as varchar) as category,
        cast(amount as bigint) as amount,
        cast(currency as varchar) as currency,
        cast(effective_at as timestamp) as effective_at,
        cast(expires_at as timestamp) as expires_at,
        cast(priority as integer) as priority,
        cast(applicable_meters as varchar) as applicable_meters,
        cast(created_at as timestamp) as created_at,
        2 as source_rank
    from {{ ref('credit_grants') }}
),

unioned as (
    select * from raw_grants
    union all
    select * from seed_grants
),

ranked as (
    select
        *,
        row_number() over (partition by grant_id order by source_rank) as rank_in_id
    from unioned
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

final as (
    select
        ranked.grant_id,
        ranked.customer_id,
        customers.stripe_customer_id,
        lower(ranked.category) as category,
        ranked.amount,
        lower(ranked.currency) as currency,
        ranked.effective_at,
        ranked.expires_at,
        coalesce(ranked.priority, 50) as priority,
        nullif(trim(ranked.applicable_meters), '') as applicable_meters,
        ranked.created_at
    from ranked
    left join customers on ranked.customer_id = customers.customer_id
    where ranked.rank_in_id = 1
)

select * from final
