-- MRR components per customer, currency and calendar month (minor units):
--   licensed_mrr: licensed (seat / flat) prices of subscriptions live at any time in the month,
--                 normalized to a month: yearly / 12, weekly x 52 / 12, daily x 365 / 12, each
--                 rounded once, half up; the quantity and price in force at the month's end
--                 (at the as-of day for the as-of month), from the items' history
--                 (int_ledger__item_versions), so a seat change never rewrites a past month.
--                 List price, before discounts.
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

versions as (
    select * from {{ ref('int_ledger__item_versions') }}
),

licensed_items as (
    select
        items.subscription_item_id,
        subscriptions.stripe_customer_id,
        subscriptions.currency as subscription_currency,
        -- a backdated subscription started with its first period, before it was created
        {{ tollgate.month_start('least(subscriptions.created_at, items.current_period_start)') }} as first_month,
        {{ tollgate.month_start('coalesce(subscriptions.ended_at, cast(as_of.as_of_date as timestamp))') }} as last_month,
        cast(as_of.as_of_date as timestamp) + {{ tollgate.days_interval(1) }} as as_of_end
    from items
    inner join subscriptions on items.subscription_id = subscriptions.subscription_id
    cross join as_of
    where least(subscriptions.created_at, items.current_period_start) < cast(as_of.as_of_date as timestamp) + {{ tollgate.days_interval(1) }}
),

-- the instant each month is measured at: its end, or the end of the as-of day in the as-of month
licensed_item_months as (
    select
        licensed_items.*,
        cast(months.month as date) as mrr_month,
        least(
            cast(months.month as timestamp) + {{ tollgate.months_interval(1) }},
            licensed_items.as_of_end
        ) as measured_at
    from licensed_items
    cross join {{ tollgate.timestamp_series(
        'licensed_items.first_month', 'licensed_items.last_month', 'month', 'months', 'month') }}
),

-- the version in force just before measured_at (a version seen exactly then starts after it)
licensed_item_month_prices as (
    select
        licensed_item_months.stripe_customer_id,
        coalesce(licensed_item_months.subscription_currency, prices.currency) as currency,
        licensed_item_months.mrr_month,
        {{ round_half_up('cast(coalesce(versions.quantity, 0) as decimal(38, 0)) * prices.unit_amount_decimal') }}
            as fee,
        prices.recurring_interval,
        prices.recurring_interval_count
    from licensed_item_months
    inner join versions
        on versions.subscription_item_id = licensed_item_months.subscription_item_id
        and (versions.in_force_from is null or versions.in_force_from < licensed_item_months.measured_at)
        and (versions.in_force_to is null or versions.in_force_to >= licensed_item_months.measured_at)
    inner join prices on versions.price_id = prices.price_id
    where prices.recurring_usage_type = 'licensed'
      and prices.unit_amount_decimal is not null
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
    from licensed_item_month_prices
),

licensed as (
    select
        stripe_customer_id,
        currency,
        mrr_month,
        sum(monthly_fee) as licensed_mrr
    from licensed_monthly
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
