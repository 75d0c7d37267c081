-- Every billing period of every subscription item, from the subscription's start to its
-- current period (Stripe keeps only the current period on an item; earlier ones are stepped
-- back by the price's interval). Subscriptions of every status take part, so usage and fees
-- of a subscription canceled since stay in the ledger's view (a source that forgot them would
-- look like a correction). Anchors after the 28th may differ by a day from Stripe's clamping;
-- items' price and quantity are the current ones (the snapshot holds no history of changes).
with items as (
    select * from {{ ref('stg_stripe__subscription_items') }}
),

subscriptions as (
    select * from {{ ref('stg_stripe__subscriptions') }}
),

prices as (
    select * from {{ ref('stg_stripe__prices') }}
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

base as (
    select
        items.subscription_item_id,
        items.subscription_id,
        subscriptions.stripe_customer_id,
        customers.customer_id,
        coalesce(subscriptions.currency, prices.currency) as currency,
        subscriptions.status as subscription_status,
        subscriptions.created_at as subscription_created_at,
        items.created_at as item_created_at,
        subscriptions.ended_at as subscription_ended_at,
        items.price_id,
        prices.product_id,
        prices.billing_scheme,
        prices.tiers_mode,
        prices.unit_amount_decimal,
        prices.transform_divide_by,
        prices.transform_round,
        prices.recurring_usage_type as usage_type,
        prices.meter_id,
        items.quantity,
        -- the price's interval as whole months or whole days (one of them 0)
        case prices.recurring_interval
            when 'year' then 12 * prices.recurring_interval_count
            when 'month' then prices.recurring_interval_count
            else 0
        end as period_months,
        case prices.recurring_interval
            when 'year' then 0
            when 'month' then 0
            when 'week' then 7 * prices.recurring_interval_count
            else prices.recurring_interval_count
        end as period_days,
        items.current_period_start,
        items.current_period_end
    from items
    inner join subscriptions on items.subscription_id = subscriptions.subscription_id
    inner join prices on items.price_id = prices.price_id
    left join customers on subscriptions.stripe_customer_id = customers.stripe_customer_id
    where items.current_period_start is not null and prices.recurring_interval is not null
),

stepped as (
    select
        base.*,
        cast(steps.k as bigint) as periods_back,
        base.current_period_start
            - {{ tollgate.months_interval('steps.k * base.period_months') }}
            - {{ tollgate.days_interval('steps.k * base.period_days') }} as period_start,
        base.current_period_start
            - {{ tollgate.months_interval('(steps.k - 1) * base.period_months') }}
            - {{ tollgate.days_interval('(steps.k - 1) * base.period_days') }} as period_end_stepped
    from base
    cross join generate_series(0, 120) as steps(k)
),

final as (
    select
        {{ hash_key(['subscription_item_id', 'period_start']) }} as item_period_id,
        subscription_item_id,
        subscription_id,
        stripe_customer_id,
        customer_id,
        currency,
        subscription_status,
        subscription_ended_at,
        price_id,
        product_id,
        billing_scheme,
        tiers_mode,
        unit_amount_decimal,
        transform_divide_by,
        transform_round,
        usage_type,
        meter_id,
        quantity,
        period_start,
        case when periods_back = 0 then current_period_end else period_end_stepped end as period_end,
        -- Metered usage counts from here (Stripe's classic billing mode, as
        -- int_billing__quantities): an item added after its subscription bills usage from its
        -- addition; an item created with the subscription, from the period start.
        case
            when item_created_at > subscription_created_at and item_created_at > period_start
                then item_created_at
            else period_start
        end as usage_from,
        periods_back = 0 as is_current_period
    from stepped
    -- periods that began before the subscription did are not periods of it (the first one
    -- may start before `created` when the subscription was backdated: keep the one holding it)
    where (period_end_stepped > subscription_created_at - {{ tollgate.days_interval(1) }} or periods_back = 0)
      -- nor are periods that ended before an item added later existed
      and (item_created_at is null or item_created_at <= subscription_created_at
           or period_end_stepped > item_created_at or periods_back = 0)
)

select * from final
