-- The warehouse's invoice preview against Stripe's invoices, per customer, subscription and
-- billing period, in minor units: difference = warehouse - Stripe. The warehouse side is the
-- last preview made of each period (fct_invoice_preview_history), so a finalized invoice of a
-- closed period is compared with what the warehouse expected it to be.
--   matched           a Stripe invoice for the period with the same total
--   different         a Stripe invoice for the period with another total
--   not_yet_invoiced  Stripe has no (non-void) invoice for the period yet (the open period)
--   not_in_preview    a Stripe invoice for a period the warehouse never previewed (before
--                     Tollgate's first run, or a subscription it does not know)
with preview as (
    select
        subscription_id,
        stripe_customer_id,
        customer_id,
        currency,
        invoice_period_start as period_start,
        invoice_period_end as period_end,
        invoice_subtotal as warehouse_subtotal,
        invoice_discount as warehouse_discount,
        invoice_total as warehouse_total,
        preview_lines as warehouse_lines
    from {{ ref('fct_invoice_preview_history') }}
),

stripe_invoices as (
    select
        *,
        row_number() over (
            partition by subscription_id, period_start order by created_at desc, invoice_id desc
        ) as newest_first
    from {{ ref('stg_stripe__invoices') }}
    where status <> 'void' and subscription_id is not null
),

latest as (
    select * from stripe_invoices where newest_first = 1
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

joined as (
    select
        coalesce(preview.subscription_id, latest.subscription_id) as subscription_id,
        coalesce(preview.stripe_customer_id, latest.stripe_customer_id) as stripe_customer_id,
        coalesce(preview.currency, latest.currency) as currency,
        coalesce(preview.period_start, latest.period_start) as period_start,
        coalesce(preview.period_end, latest.period_end) as period_end,
        preview.warehouse_total,
        preview.warehouse_lines,
        latest.invoice_id as stripe_invoice_id,
        latest.status as stripe_status,
        latest.total as stripe_total
    from preview
    full outer join latest
        on preview.subscription_id = latest.subscription_id
        and preview.period_start = latest.period_start
),

final as (
    select
        {{ hash_key(['joined.subscription_id', 'joined.period_start']) }} as invoice_reconciliation_id,
        joined.stripe_customer_id,
        customers.customer_id,
        joined.subscription_id,
        joined.currency,
        joined.period_start,
        joined.period_end,
        cast(joined.warehouse_total as bigint) as warehouse_total,
        joined.stripe_invoice_id,
        joined.stripe_status,
        cast(joined.stripe_total as bigint) as stripe_total,
        cast(coalesce(joined.warehouse_total, 0) - coalesce(joined.stripe_total, 0) as bigint) as difference,
        case
            when joined.stripe_invoice_id is null then 'not_yet_invoiced'
            when joined.warehouse_total is null then 'not_in_preview'
            when joined.warehouse_total = joined.stripe_total then 'matched'
            else 'different'
        end as reconciliation_status
    from joined
    left join customers on joined.stripe_customer_id = customers.stripe_customer_id
)

select * from final
