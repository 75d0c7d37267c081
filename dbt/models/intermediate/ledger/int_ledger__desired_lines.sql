-- What the ledger should hold, as of the as-of day: every transaction the sources speak about,
-- line by line, as signed amounts in minor units (debit > 0, credit < 0). Each transaction
-- balances per currency. fct_ledger_entries compares this with what it already holds and
-- appends only the difference (a reversal plus the new lines).
--
-- transaction_key is derived from the source facts only (ids, periods, days), never from the
-- run: the same facts always give the same key. Facts dated after the as-of day wait.
--
--   usage_accrual      Dr unbilled_receivable / Cr usage_revenue[meter]   per item, period, day
--   licensed_fee       Dr unbilled_receivable / Cr deferred_revenue        per item, period (at its start)
--   revenue_recognition Dr deferred_revenue / Cr subscription_revenue[product] per item, period, day
--   invoice_adjustment discounts:  Dr discounts / Cr unbilled_receivable  (an ended period's coupons)
--                      true-up:    Dr unbilled_receivable / Cr subscription_revenue[minimum_commitment]
--                                  (an ended period's shortfall, on its last day)
--                      proration:  Dr unbilled_receivable / Cr subscription_revenue[price] (on the change day)
--   invoice_finalized  Dr accounts_receivable / Cr unbilled_receivable  (invoice total; void -> 0)
--   payment            Dr cash / Cr accounts_receivable
--   refund             Dr accounts_receivable / Cr cash
--   credit_note        Dr credit_notes / Cr accounts_receivable
--   credit_grant       paid: Dr cash, promotional: Dr promotional_credit_expense / Cr customer_credit_balance
--   credit_burn        Dr customer_credit_balance / Cr unbilled_receivable  per grant and usage day
--   credit_expiry      Dr customer_credit_balance / Cr credit_breakage_revenue (paid) or
--                      promotional_credit_expense (promotional), for what is left at expires_at
with as_of as (
    select as_of_date from {{ ref('int_ledger__as_of') }}
),

accruals as (
    select * from {{ ref('int_ledger__usage_accruals') }}
),

items as (
    select * from {{ ref('int_ledger__item_periods') }}
),

preview as (
    select * from {{ ref('fct_invoice_preview') }}
),

invoices as (
    select * from {{ ref('stg_stripe__invoices') }}
),

payments as (
    select * from {{ ref('stg_finance__payments') }}
),

refunds as (
    select * from {{ ref('stg_finance__refunds') }}
),

credit_notes as (
    select * from {{ ref('stg_finance__credit_notes') }}
),

grants as (
    select * from {{ ref('stg_finance__credit_grants') }}
    where stripe_customer_id is not null
),

burns as (
    select * from {{ ref('int_ledger__credit_burndown') }}
),

-- one row per transaction with its counter-accounts; lines are unpivoted below
usage_accrual as (
    select
        'usage_accrual' as transaction_type,
        accruals.accrual_key as transaction_key,
        'subscription_item' as source_type,
        accruals.subscription_item_id as source_id,
        accruals.stripe_customer_id,
        accruals.customer_id,
        accruals.currency,
        accruals.usage_date as effective_date,
        accruals.product_id,
        'unbilled_receivable' as debit_account,
        accruals.meter_event_name as debit_sub_account,
        'usage_revenue' as credit_account,
        accruals.meter_event_name as credit_sub_account,
        accruals.accrued_amount as amount
    from accruals
    cross join as_of
    where accruals.usage_date <= as_of.as_of_date
),

-- A period's fee: the amount of Stripe's invoice line for it when a finalized invoice carries
-- one (rounded by Stripe), else the quantity x unit amount of the item version in force at the
-- period start (int_ledger__item_periods), ROUNDED here once, half up. Never today's item.
licensed as (
    select
        items.*,
        cast(period_start as date) as period_start_date,
        cast(period_end as date) as period_end_date,
        case
            when items.invoiced_amount is not null then cast(items.invoiced_amount as bigint)
            else {{ round_half_up('cast(coalesce(items.quantity, 0) as decimal(38, 0)) * items.unit_amount_decimal') }}
        end as fee,
        cast({{ tollgate.days_between('period_start', 'period_end') }} as bigint) as period_days
    from items
    where items.usage_type = 'licensed'
      and items.billing_scheme = 'per_unit'
      and items.unit_amount_decimal is not null
      and (items.subscription_ended_at is null or items.period_start < items.subscription_ended_at)
),

licensed_fee as (
    select
        'licensed_fee' as transaction_type,
        {{ hash_key(["'licensed_fee'", 'licensed.subscription_item_id', 'licensed.period_start']) }} as transaction_key,
        'subscription_item' as source_type,
        licensed.subscription_item_id as source_id,
        licensed.stripe_customer_id,
        licensed.customer_id,
        licensed.currency,
        licensed.period_start_date as effective_date,
        licensed.product_id,
        'unbilled_receivable' as debit_account,
        cast(null as varchar) as debit_sub_account,
        'deferred_revenue' as credit_account,
        cast(null as varchar) as credit_sub_account,
        licensed.fee as amount
    from licensed
    cross join as_of
    where licensed.period_start_date <= as_of.as_of_date
),

-- Straight-line recognition over the service period, by whole UTC days: through day k of n,
-- round_half_up(fee x k / n) is recognized (exact integer arithmetic); each day posts the
-- difference, so the days sum to the fee exactly.
recognition_days as (
    select
        licensed.*,
        cast(spine.day as date) as recognition_date,
        cast({{ tollgate.days_between('licensed.period_start_date', 'spine.day') }} + 1 as bigint) as days_elapsed
    from licensed
    cross join as_of
    cross join {{ tollgate.timestamp_series(
        'licensed.period_start_date',
        'cast(licensed.period_end_date as timestamp) - ' ~ tollgate.unit_interval('day'),
        'day', 'spine', 'day') }}
    where cast(spine.day as date) <= as_of.as_of_date
      and licensed.period_days > 0
      and (licensed.subscription_ended_at is null
           or cast(spine.day as timestamp) < licensed.subscription_ended_at)
),

recognition_cumulative as (
    select
        *,
        {{ ratio_round_half_up('cast(fee as decimal(38, 12)) * cast(days_elapsed as decimal(38, 0))', 'period_days') }}
            as recognized_to_date,
        {{ ratio_round_half_up('cast(fee as decimal(38, 12)) * cast(days_elapsed - 1 as decimal(38, 0))', 'period_days') }}
            as recognized_before
    from recognition_days
),

revenue_recognition as (
    select
        'revenue_recognition' as transaction_type,
        {{ hash_key(["'revenue_recognition'", 'subscription_item_id', 'period_start', 'recognition_date']) }}
            as transaction_key,
        'subscription_item' as source_type,
        subscription_item_id as source_id,
        stripe_customer_id,
        customer_id,
        currency,
        recognition_date as effective_date,
        product_id,
        'deferred_revenue' as debit_account,
        cast(null as varchar) as debit_sub_account,
        'subscription_revenue' as credit_account,
        product_id as credit_sub_account,
        recognized_to_date - recognized_before as amount
    from recognition_cumulative
),

-- The upcoming invoice's adjustments. A minimum-commitment shortfall and the invoice's coupons
-- are only known when the billing period ends (usage keeps arriving until then, and the
-- discount is a share of it), so they are posted once the period has ended, dated its last
-- day (the last UTC day whose 00:00 is in the period), from the last preview the warehouse
-- made of that period (fct_invoice_preview_history). The open period's true-up and discounts
-- are a forecast: fct_invoice_preview shows them, the ledger does not. Stripe's finalized
-- invoice cannot replace the preview here: the true-up is Tollgate's term, not on it.
-- Prorations are posted on the day of the change, for their full amount, from the preview:
-- Stripe created the pending invoice item then and its amount does not move with usage.
history as (
    select * from {{ ref('fct_invoice_preview_history') }}
),

ended_periods as (
    select
        history.*,
        cast(cast(history.invoice_period_end as timestamp) - interval '1 second' as date) as period_last_day
    from history
    cross join as_of
    where cast(cast(history.invoice_period_end as timestamp) - interval '1 second' as date) <= as_of.as_of_date
),

-- The same keys as the preview's lines, so what an earlier ledger posted from the preview for
-- a period still open is reversed (amount 0) and an ended period's true-up corrects it.
period_adjustments as (
    select
        {{ hash_key(['subscription_id', 'invoice_period_end', "'commitment_true_up'", 'subscription_id']) }}
            as transaction_key,
        'commitment_true_up' as line_type,
        subscription_id,
        stripe_customer_id,
        customer_id,
        currency,
        period_last_day as effective_date,
        invoice_commitment_true_up as amount
    from ended_periods
    -- null: kept before the column existed; what was posted for it stands
    where invoice_commitment_true_up is not null

    union all

    select
        {{ hash_key(["'invoice_discount'", 'subscription_id', 'invoice_period_end']) }} as transaction_key,
        'discount' as line_type,
        subscription_id,
        stripe_customer_id,
        customer_id,
        currency,
        period_last_day as effective_date,
        invoice_discount as amount
    from ended_periods

    union all

    select
        preview.invoice_preview_line_id as transaction_key,
        preview.line_type,
        preview.subscription_id,
        preview.stripe_customer_id,
        preview.customer_id,
        preview.currency,
        cast(preview.invoice_period_start as date) as effective_date,
        0 as amount
    from preview
    cross join as_of
    where preview.line_type in ('discount', 'commitment_true_up')
      and cast(cast(preview.invoice_period_end as timestamp) - interval '1 second' as date) > as_of.as_of_date
),

invoice_adjustment as (
    select
        'invoice_adjustment' as transaction_type,
        transaction_key,
        'invoice_period' as source_type,
        subscription_id as source_id,
        stripe_customer_id,
        customer_id,
        currency,
        effective_date,
        cast(null as varchar) as product_id,
        case when line_type = 'discount' then 'discounts' else 'unbilled_receivable' end as debit_account,
        cast(null as varchar) as debit_sub_account,
        case when line_type = 'discount' then 'unbilled_receivable' else 'subscription_revenue' end
            as credit_account,
        case when line_type = 'commitment_true_up' then 'minimum_commitment' end as credit_sub_account,
        amount
    from period_adjustments

    union all

    select
        'invoice_adjustment' as transaction_type,
        preview.invoice_preview_line_id as transaction_key,
        'invoice_preview_line' as source_type,
        preview.source_id,
        preview.stripe_customer_id,
        preview.customer_id,
        preview.currency,
        cast(preview.line_period_start as date) as effective_date,
        cast(null as varchar) as product_id,
        'unbilled_receivable' as debit_account,
        cast(null as varchar) as debit_sub_account,
        'subscription_revenue' as credit_account,
        preview.price_id as credit_sub_account,
        preview.amount
    from preview
    cross join as_of
    where preview.line_type = 'proration'
      -- a proration dated after the as-of day waits, like every other fact
      and cast(preview.line_period_start as date) <= as_of.as_of_date
),

invoice_finalized as (
    select
        'invoice_finalized' as transaction_type,
        {{ hash_key(["'invoice'", 'invoices.invoice_id']) }} as transaction_key,
        'stripe_invoice' as source_type,
        invoices.invoice_id as source_id,
        invoices.stripe_customer_id,
        customers.customer_id,
        invoices.currency,
        cast(invoices.created_at as date) as effective_date,
        cast(null as varchar) as product_id,
        'accounts_receivable' as debit_account,
        cast(null as varchar) as debit_sub_account,
        'unbilled_receivable' as credit_account,
        cast(null as varchar) as credit_sub_account,
        -- A finalized invoice moves its total from unbilled to billed; voiding it undoes that.
        case when invoices.status = 'void' then 0 else invoices.total end as amount
    from invoices
    cross join as_of
    left join {{ ref('int_customers_mapped') }} as customers
        on invoices.stripe_customer_id = customers.stripe_customer_id
    where invoices.status in ('open', 'paid', 'uncollectible', 'void')
      and cast(invoices.created_at as date) <= as_of.as_of_date
),

payment as (
    select
        'payment' as transaction_type,
        {{ hash_key(["'payment'", 'payment_id']) }} as transaction_key,
        'payment' as source_type,
        payment_id as source_id,
        stripe_customer_id,
        customer_id,
        currency,
        cast(paid_at as date) as effective_date,
        cast(null as varchar) as product_id,
        'cash' as debit_account,
        cast(null as varchar) as debit_sub_account,
        'accounts_receivable' as credit_account,
        cast(null as varchar) as credit_sub_account,
        amount
    from payments
    cross join as_of
    where cast(paid_at as date) <= as_of.as_of_date and stripe_customer_id is not null
),

refund as (
    select
        'refund' as transaction_type,
        {{ hash_key(["'refund'", 'refund_id']) }} as transaction_key,
        'refund' as source_type,
        refund_id as source_id,
        stripe_customer_id,
        customer_id,
        currency,
        cast(refunded_at as date) as effective_date,
        cast(null as varchar) as product_id,
        'accounts_receivable' as debit_account,
        cast(null as varchar) as debit_sub_account,
        'cash' as credit_account,
        cast(null as varchar) as credit_sub_account,
        amount
    from refunds
    cross join as_of
    where cast(refunded_at as date) <= as_of.as_of_date and stripe_customer_id is not null
),

credit_note as (
    select
        'credit_note' as transaction_type,
        {{ hash_key(["'credit_note'", 'credit_note_id']) }} as transaction_key,
        'credit_note' as source_type,
        credit_note_id as source_id,
        stripe_customer_id,
        customer_id,
        currency,
        cast(issued_at as date) as effective_date,
        cast(null as varchar) as product_id,
        'credit_notes' as debit_account,
        cast(null as varchar) as debit_sub_account,
        'accounts_receivable' as credit_account,
        cast(null as varchar) as credit_sub_account,
        amount
    from credit_notes
    cross join as_of
    where cast(issued_at as date) <= as_of.as_of_date and stripe_customer_id is not null
),

credit_grant as (
    select
        'credit_grant' as transaction_type,
        {{ hash_key(["'credit_grant'", 'grant_id']) }} as transaction_key,
        'credit_grant' as source_type,
        grant_id as source_id,
        stripe_customer_id,
        customer_id,
        currency,
        cast(created_at as date) as effective_date,
        cast(null as varchar) as product_id,
        case when category = 'promotional' then 'promotional_credit_expense' else 'cash' end
            as debit_account,
        cast(null as varchar) as debit_sub_account,
        'customer_credit_balance' as credit_account,
        grant_id as credit_sub_account,
        amount
    from grants
    cross join as_of
    where cast(created_at as date) <= as_of.as_of_date
),

credit_burn as (
    select
        'credit_burn' as transaction_type,
        {{ hash_key(["'credit_burn'", 'burns.grant_id', 'burns.accrual_key']) }} as transaction_key,
        'credit_grant' as source_type,
        burns.grant_id as source_id,
        burns.stripe_customer_id,
        accruals.customer_id,
        burns.currency,
        burns.usage_date as effective_date,
        accruals.product_id,
        'customer_credit_balance' as debit_account,
        burns.grant_id as debit_sub_account,
        'unbilled_receivable' as credit_account,
        accruals.meter_event_name as credit_sub_account,
        burns.amount
    from burns
    inner join accruals on burns.accrual_key = accruals.accrual_key
),

burned_per_grant as (
    select grant_id, sum(amount) as burned from burns group by grant_id
),

credit_expiry as (
    select
        'credit_expiry' as transaction_type,
        {{ hash_key(["'credit_expiry'", 'grants.grant_id']) }} as transaction_key,
        'credit_grant' as source_type,
        grants.grant_id as source_id,
        grants.stripe_customer_id,
        grants.customer_id,
        grants.currency,
        -- never before the grant itself is posted (a grant may be recorded after it expired)
        greatest(cast(grants.expires_at as date), cast(grants.created_at as date)) as effective_date,
        cast(null as varchar) as product_id,
        'customer_credit_balance' as debit_account,
        grants.grant_id as debit_sub_account,
        case when grants.category = 'promotional' then 'promotional_credit_expense' else 'credit_breakage_revenue' end
            as credit_account,
        cast(null as varchar) as credit_sub_account,
        grants.amount - coalesce(burned_per_grant.burned, 0) as amount
    from grants
    cross join as_of
    left join burned_per_grant on grants.grant_id = burned_per_grant.grant_id
    where grants.expires_at is not null
      and cast(grants.expires_at as date) <= as_of.as_of_date
      and cast(grants.created_at as date) <= as_of.as_of_date
),

transactions as (
    select * from usage_accrual
    union all select * from licensed_fee
    union all select * from revenue_recognition
    union all select * from invoice_adjustment
    union all select * from invoice_finalized
    union all select * from payment
    union all select * from refund
    union all select * from credit_note
    union all select * from credit_grant
    union all select * from credit_burn
    union all select * from credit_expiry
),

lines as (
    select
        transaction_key, transaction_type, source_type, source_id, stripe_customer_id,
        customer_id, currency, effective_date, product_id,
        debit_account as account, debit_sub_account as sub_account,
        cast(amount as bigint) as amount
    from transactions
    union all
    select
        transaction_key, transaction_type, source_type, source_id, stripe_customer_id,
        customer_id, currency, effective_date, product_id,
        credit_account as account, credit_sub_account as sub_account,
        cast(-amount as bigint) as amount
    from transactions
),

final as (
    select
        transaction_key,
        transaction_type,
        source_type,
        source_id,
        stripe_customer_id,
        customer_id,
        currency,
        effective_date,
        product_id,
        account,
        sub_account,
        account || ':' || coalesce(sub_account, '') as line_key,
        amount
    from lines
)

select * from final
