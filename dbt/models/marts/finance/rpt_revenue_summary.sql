-- Revenue by month and product: the first page of a BI tool. Recognized revenue (ledger,
-- by posting month) in the currency's minor unit, with how many customers it came from.
with recognition as (
    select * from {{ ref('rpt_revenue_recognition') }}
),

final as (
    select
        {{ hash_key(['recognition_month', 'currency', 'product_id']) }} as revenue_summary_id,
        recognition_month,
        currency,
        product_id,
        min(product_name) as product_name,
        cast(sum(usage_revenue) as bigint) as usage_revenue,
        cast(sum(subscription_revenue) as bigint) as subscription_revenue,
        cast(sum(breakage_revenue) as bigint) as breakage_revenue,
        cast(sum(discounts) as bigint) as discounts,
        cast(sum(credit_notes) as bigint) as credit_notes,
        cast(sum(recognized_revenue) as bigint) as recognized_revenue,
        cast(count(distinct case when recognized_revenue <> 0 then stripe_customer_id end) as bigint)
            as customers
    from recognition
    group by recognition_month, currency, product_id
)

select * from final
