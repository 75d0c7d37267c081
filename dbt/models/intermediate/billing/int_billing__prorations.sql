-- Pending proration invoice items, each recomputed from its facts as Stripe does "down to the
-- second": amount = quantity x unit price x (seconds from the change to the period end) /
-- (seconds in the item's period), rounded once, half up (macro ratio_round_half_up: exact
-- integer arithmetic, no float). The sign (credit for unused time, debit for remaining time)
-- comes from Stripe's item. Prorations are never discountable.
-- The recomputed amount goes on the preview; stripe_amount is kept for the reconciliation.
-- Tiered licensed prices are not recomputed (the item's amount is used; is_recomputed = false).
--
-- The item is joined to its subscription through the INVOICE ITEM's own subscription, not
-- through a live subscription item: when an item is deleted mid-period Stripe issues a credit
-- for its unused time whose subscription_item no longer exists, and that credit belongs on the
-- next invoice all the same. The period the proration is a share of is the subscription's
-- current period for the invoice item's price interval (same end); when no live item of that
-- interval is left, the period is unknown and Stripe's amount is kept (is_recomputed = false).
with invoice_items as (
    select * from {{ ref('stg_stripe__invoice_items') }}
    where is_proration and invoice_id is null
),

items as (
    select * from {{ ref('int_billing__subscription_items') }}
),

-- live subscriptions (one row each) with their customer
subscriptions as (
    select
        subscription_id,
        min(stripe_customer_id) as stripe_customer_id,
        min(customer_id) as customer_id
    from items
    group by subscription_id
),

-- each subscription's current period per price interval
periods as (
    select distinct
        subscription_id,
        recurring_interval,
        recurring_interval_count,
        period_start,
        period_end
    from items
),

prices as (
    select * from {{ ref('stg_stripe__prices') }}
),

facts as (
    select
        invoice_items.invoice_item_id,
        invoice_items.subscription_id,
        subscriptions.stripe_customer_id,
        subscriptions.customer_id,
        invoice_items.subscription_item_id,
        invoice_items.price_id,
        invoice_items.currency,
        invoice_items.description,
        invoice_items.quantity,
        prices.billing_scheme,
        prices.unit_amount_decimal,
        invoice_items.amount as stripe_amount,
        invoice_items.period_start as change_at,
        invoice_items.period_end,
        periods.period_start as item_period_start,
        periods.period_end as item_period_end,
        {{ seconds_between('invoice_items.period_start', 'invoice_items.period_end') }}
            as seconds_remaining,
        {{ seconds_between('periods.period_start', 'periods.period_end') }} as period_seconds
    from invoice_items
    inner join subscriptions on invoice_items.subscription_id = subscriptions.subscription_id
    left join prices on invoice_items.price_id = prices.price_id
    left join periods
        on invoice_items.subscription_id = periods.subscription_id
        and prices.recurring_interval = periods.recurring_interval
        and prices.recurring_interval_count = periods.recurring_interval_count
        and invoice_items.period_end = periods.period_end
),

final as (
    select
        invoice_item_id,
        subscription_id,
        stripe_customer_id,
        customer_id,
        subscription_item_id,
        price_id,
        currency,
        description,
        quantity,
        unit_amount_decimal,
        change_at,
        period_end,
        item_period_start,
        item_period_end,
        seconds_remaining,
        period_seconds,
        coalesce(
            billing_scheme = 'per_unit' and unit_amount_decimal is not null
                and period_seconds > 0,
            false
        ) as is_recomputed,
        case
            when billing_scheme = 'per_unit' and unit_amount_decimal is not null
                and period_seconds > 0
                then sign(stripe_amount) * {{ ratio_round_half_up(
                    'cast(quantity as decimal(38, 0)) * unit_amount_decimal * cast(seconds_remaining as decimal(38, 0))',
                    'period_seconds') }}
            else stripe_amount
        end as amount,
        stripe_amount
    from facts
)

select * from final
