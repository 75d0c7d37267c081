with source as (
    select * from {{ source('stripe', 'invoice_lines') }}
),

final as (
    select
        id as invoice_line_id,
        invoice as invoice_id,
        amount,
        lower(currency) as currency,
        quantity,
        price as price_id,
        period_start,
        period_end,
        description
    from source
)

select * from final
