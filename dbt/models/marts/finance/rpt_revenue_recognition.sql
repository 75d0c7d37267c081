-- Recognized revenue per UTC day, customer, currency and product, from the ledger (posting
-- date), with the deferred revenue roll-forward of the same grain:
--   deferred_closing = deferred_opening + deferred_billed - deferred_recognized
-- deferred_billed: licensed fees put into deferred revenue (and their corrections);
-- deferred_recognized: what revenue_recognition moved out of it into subscription revenue.
-- A row exists for each day with any revenue or deferred activity; between two rows nothing
-- moved, so a row's opening is the previous row's closing (tested, and tied to the ledger's
-- deferred_revenue balance: dbt test assert_deferred_revenue_rolls_forward).
-- Revenue amounts are credits to revenue accounts net of debits; contra accounts (discounts,
-- credit notes) are negative. Integers in the currency's minor unit.
with entries as (
    select * from {{ ref('fct_ledger_entries') }}
    where account in (
        'usage_revenue', 'subscription_revenue', 'credit_breakage_revenue', 'discounts',
        'credit_notes', 'deferred_revenue'
    )
),

products as (
    select * from {{ ref('stg_stripe__products') }}
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

daily as (
    select
        posting_date as recognition_date,
        stripe_customer_id,
        currency,
        coalesce(product_id, 'unassigned') as product_id,
        -sum(case when account = 'usage_revenue' then amount else 0 end) as usage_revenue,
        -sum(case when account = 'subscription_revenue' then amount else 0 end) as subscription_revenue,
        -sum(case when account = 'credit_breakage_revenue' then amount else 0 end) as breakage_revenue,
        -sum(case when account = 'discounts' then amount else 0 end) as discounts,
        -sum(case when account = 'credit_notes' then amount else 0 end) as credit_notes,
        -sum(case when account = 'deferred_revenue' and transaction_type <> 'revenue_recognition' then amount else 0 end)
            as deferred_billed,
        sum(case when account = 'deferred_revenue' and transaction_type = 'revenue_recognition' then amount else 0 end)
            as deferred_recognized
    from entries
    group by posting_date, stripe_customer_id, currency, coalesce(product_id, 'unassigned')
),

rolled as (
    select
        *,
        sum(deferred_billed - deferred_recognized) over (
            partition by stripe_customer_id, currency, product_id
            order by recognition_date
            rows between unbounded preceding and current row
        ) as deferred_closing
    from daily
),

final as (
    select
        {{ hash_key(['rolled.recognition_date', 'rolled.stripe_customer_id', 'rolled.currency', 'rolled.product_id']) }}
            as revenue_recognition_id,
        rolled.recognition_date,
        {{ tollgate.month_start('rolled.recognition_date') }} as recognition_month,
        rolled.stripe_customer_id,
        customers.customer_id,
        rolled.currency,
        rolled.product_id,
        coalesce(products.product_name, 'Adjustments (true-ups, discounts, credit notes, breakage)') as product_name,
        cast(rolled.usage_revenue as bigint) as usage_revenue,
        cast(rolled.subscription_revenue as bigint) as subscription_revenue,
        cast(rolled.breakage_revenue as bigint) as breakage_revenue,
        cast(rolled.discounts as bigint) as discounts,
        cast(rolled.credit_notes as bigint) as credit_notes,
        cast(
            rolled.usage_revenue + rolled.subscription_revenue + rolled.breakage_revenue
            + rolled.discounts + rolled.credit_notes as bigint
        ) as recognized_revenue,
        cast(rolled.deferred_closing - rolled.deferred_billed + rolled.deferred_recognized as bigint)
            as deferred_opening,
        cast(rolled.deferred_billed as bigint) as deferred_billed,
        cast(rolled.deferred_recognized as bigint) as deferred_recognized,
        cast(rolled.deferred_closing as bigint) as deferred_closing
    from rolled
    left join products on rolled.product_id = products.product_id
    left join customers on rolled.stripe_customer_id = customers.stripe_customer_id
)

select * from final
