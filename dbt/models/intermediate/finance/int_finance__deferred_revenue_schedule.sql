-- What deferred revenue should hold, from the billing source alone (never the ledger): per
-- licensed subscription item, billing period and UTC day through the as-of day,
--   billed:      the period's fee, on the period's first day: round_half_up(quantity x unit
--                amount), rounded once, here (Stripe bills the licensed fee in advance);
--   recognized:  the straight-line schedule over the period's whole UTC days: through day k of
--                n, round_half_up(fee x k / n) (exact integer arithmetic); each day is the
--                difference, so the days sum to the fee. Nothing after the subscription ended.
-- rpt_deferred_revenue_tieout compares it with the ledger's deferred_revenue account. It is
-- written apart from int_ledger__desired_lines on purpose: a tie-out that read the ledger's
-- own postings could not disagree with them.
with items as (
    select * from {{ ref('int_ledger__item_periods') }}
),

as_of as (
    select as_of_date from {{ ref('int_ledger__as_of') }}
),

fees as (
    select
        items.subscription_item_id,
        items.stripe_customer_id,
        items.customer_id,
        items.currency,
        items.product_id,
        items.period_start,
        items.subscription_ended_at,
        cast(items.period_start as date) as billed_on,
        cast(items.period_end as date) as period_end_date,
        {{ round_half_up('cast(coalesce(items.quantity, 0) as decimal(38, 0)) * items.unit_amount_decimal') }} as fee,
        cast({{ tollgate.days_between('items.period_start', 'items.period_end') }} as bigint) as period_days
    from items
    cross join as_of
    where items.usage_type = 'licensed'
      and items.billing_scheme = 'per_unit'
      and items.unit_amount_decimal is not null
      and (items.subscription_ended_at is null or items.period_start < items.subscription_ended_at)
      and cast(items.period_start as date) <= as_of.as_of_date
),

days as (
    select
        fees.*,
        cast(spine.day as date) as schedule_date,
        cast({{ tollgate.days_between('fees.billed_on', 'spine.day') }} + 1 as bigint) as day_number
    from fees
    cross join as_of
    cross join {{ tollgate.timestamp_series(
        'fees.billed_on',
        'cast(fees.period_end_date as timestamp) - ' ~ tollgate.unit_interval('day'),
        'day', 'spine', 'day') }}
    where cast(spine.day as date) <= as_of.as_of_date
),

scheduled as (
    select
        *,
        case
            when period_days <= 0
                or (subscription_ended_at is not null and cast(schedule_date as timestamp) >= subscription_ended_at)
                then 0
            else {{ ratio_round_half_up('cast(fee as decimal(38, 12)) * cast(day_number as decimal(38, 0))', 'period_days') }}
                - {{ ratio_round_half_up('cast(fee as decimal(38, 12)) * cast(day_number - 1 as decimal(38, 0))', 'period_days') }}
        end as recognized
    from days
),

final as (
    select
        subscription_item_id,
        period_start,
        schedule_date,
        stripe_customer_id,
        customer_id,
        currency,
        product_id,
        cast(case when schedule_date = billed_on then fee else 0 end as bigint) as billed,
        cast(recognized as bigint) as recognized
    from scheduled
)

select * from final
