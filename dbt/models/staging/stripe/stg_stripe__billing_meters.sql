with source as (
    select * from {{ source('stripe', 'billing_meters') }}
),

final as (
    select
        id as meter_id,
        event_name,
        display_name,
        status,
        aggregation_formula,
        customer_payload_key,
        value_payload_key,
        created as created_at
    from source
)

select * from final
