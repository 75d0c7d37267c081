with source as (
    select * from {{ source('stripe', 'customers') }}
),

final as (
    select
        id as stripe_customer_id,
        nullif(trim(metadata_customer_id), '') as customer_id,
        email,
        name,
        created as created_at,
        livemode
    from source
)

select * from final
