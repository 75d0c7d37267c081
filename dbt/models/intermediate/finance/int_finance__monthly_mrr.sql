-- MRR components per customer, currency and calendar month (minor units):
--   licensed_mrr: licensed (seat / flat) prices of subscriptions live at any time in the month,
--                 normalized to a month: yearly / 12, weekly x 52 / 12, daily x 365 / 12, each
--                 rounded once, half up; the item's current quantity and price (the Stripe
--                 snapshot holds no history of item changes). List price, before discounts.
--   usage_mrr:    usage revenue of the month the usage happened in (ledger usage_revenue by
--                 effective date, net of corrections, wherever they were posted). A complete
--                 month counts its own usage. The as-of month, while incomplete (the as-of day
--                 is not its last day), counts the last complete month's usage instead: its
--                 month-to-date usage is only part of a month and would read as contraction.
--                 A customer whose usage starts in the incomplete month has no usage MRR yet.
with items as (
    select * from {{ ref('stg_stripe__subscription_items') }}
),

subscriptions as (
    select * from {{ ref('stg_stripe__subscriptions') }}
),

prices as (
    select * from {{ ref('stg_stripe__prices') }}
),

entries as (
    select * from {{ ref('fct_ledger_entries') }}
),

as_of as (
    select as_of_date from {{ ref('int_ledger__as_of') }}
),

licensed_items as (
    select
        subscriptions.stripe_customer_id,
        coalesce(subscriptions.currency, prices.currency) as currency,
        -- a backdated subscription started with its first period, before it was created
        {{ tollgate.month_start('least(subscriptions.created_at, items.current_period_start)') }} as first_month,
        {{ tollgate.month_start('coalesce(subscriptions.ended_at, cast(as_of.as_of_date as timestamp))') }} as last_month,
        {{ round_half_up('cast(coalesce(items.quantity, 0) as decimal(38, 0)) * prices.unit_amount_decimal') }}
            as fee,
        prices.recurring_interval,
        prices.recurring_interval_count
    from items
    inner join subscriptions on items.subscription_id = subscriptions.subscription_id
    inner join prices on items.price_id = prices.price_id
    cross join as_of
    where prices.recurring_usage_type = 'licensed'
      and prices.unit_amount_decimal is not null
      and least(subscriptions.created_at, items.current_period_start) < cast(as_of.as_of_date as timestamp) + {{ tollgate.days_interval(1) }}
),

licensed_monthly as (
    select
        *,
        case recurring_interval
            when 'month' then {{ ratio_round_half_up('cast(fee as decimal(38, 12))', 'recurring_interval_count') }}
            when 'year' then {{ ratio_round_half_up('cast(fee as decimal(38, 12))', '12 * recurring_interval_count') }}
            when 'week' then {{ ratio_round_half_up('cast(fee as decimal(38, 12)) * 52', '12 * recurring_interval_count') }}
            else {{ ratio_round_half_up('cast(fee as decimal(38, 12)) * 365', '12 * recurring_interval_count') }}
        end as monthly_fee
    from licensed_items
),

licensed as (
    select
        licensed_monthly.stripe_customer_id,
        licensed_monthly.currency,
        cast(months.month as date) as mrr_month,
        sum(licensed_monthly.monthly_fee) as licensed_mrr
    from licensed_monthly
    cross join {{ tollgate.timestamp_series(
        'licensed_monthly.first_month', 'licensed_monthly.last_month', 'month', 'months', 'month') }}
    group by 1, 2, 3
),

usage_by_month as (
    select
        stripe_customer_id,
        currency,
        {{ tollgate.month_start('effective_date') }} as usage_month,
        -sum(amount) as usage_revenue
    from entries
    cross join as_of
    where account = 'usage_revenue'
      and effective_date <= as_of.as_of_date
    group by 1, 2, 3
),

as_of_month as (
    select
        {{ tollgate.month_start('as_of_date') }} as mrr_month,
        -- complete when the as-of day is the month's last day
        {{ tollgate.month_start('cast(as_of_date as timestamp) + ' ~ tollgate.days_interval(1)) }}
            <> {{ tollgate.month_start('as_of_date') }} as is_complete,
        cast(cast({{ tollgate.month_start('as_of_date') }} as timestamp) - {{ tollgate.unit_interval('month') }} as date)
            as previous_month
    from as_of
),

usage as (
    select
        usage_by_month.stripe_customer_id,
        usage_by_month.currency,
        usage_by_month.usage_month as mrr_month,
        usage_by_month.usage_revenue as usage_mrr
    from usage_by_month
    cross join as_of_month
    where usage_by_month.usage_month < as_of_month.mrr_month
       or (usage_by_month.usage_month = as_of_month.mrr_month and as_of_month.is_complete)

    union all

    -- the incomplete as-of month: the last complete month's usage
    select
        usage_by_month.stripe_customer_id,
        usage_by_month.currency,
        as_of_month.mrr_month,
        usage_by_month.usage_revenue as usage_mrr
    from usage_by_month
    cross join as_of_month
    where not as_of_month.is_complete
      and usage_by_month.usage_month = as_of_month.previous_month
),

final as (
    select
        coalesce(licensed.stripe_customer_id, usage.stripe_customer_id) as stripe_customer_id,
        coalesce(licensed.currency, usage.currency) as currency,
        coalesce(licensed.mrr_month, usage.mrr_month) as mrr_month,
        cast(coalesce(licensed.licensed_mrr, 0) as bigint) as licensed_mrr,
        cast(coalesce(usage.usage_mrr, 0) as bigint) as usage_mrr,
        cast(coalesce(licensed.licensed_mrr, 0) + coalesce(usage.usage_mrr, 0) as bigint) as mrr
    from licensed
    full outer join usage
        on licensed.stripe_customer_id = usage.stripe_customer_id
        and licensed.currency = usage.currency
        and licensed.mrr_month = usage.mrr_month
)

select * from final
