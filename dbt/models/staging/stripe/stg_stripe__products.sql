with source as (
    select * from {{ source('stripe', 'products') }}
),

final as (
    select
        id as product_id,
        name as product_name,
        active as is_active,
        created as created_at
    from source
)

select * from final
