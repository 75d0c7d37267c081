-- Every billing period of every subscription item, from the subscription's start to its
-- current period (Stripe keeps only the current period on an item; earlier ones are stepped
-- back by the current price's interval). Subscriptions of every status take part, so usage and
-- fees of a subscription canceled since stay in the ledger's view (a source that forgot them
-- would look like a correction). Anchors after the 28th may differ by a day from Stripe's
-- clamping.
--
-- A licensed item's price and quantity for a period are what the period was billed at, never
-- today's values (a seat change today must not re-price periods invoiced at the old count):
--   1. the non-proration line Stripe put on a finalized invoice (open, paid, uncollectible) for
--      the item and period: Stripe's record of what was billed (quantity_source 'invoice_line';
--      desired_lines takes its amount as the fee);
--   2. else, when the item changed within the period, the old values Stripe's first proration
--      of the period credits ("unused time on <quantity> x <old price>"): Stripe's own record of
--      the item at the period start, exact even when our history began after the change
--      ('proration_credit');
--   3. else, for an item added to its subscription within the period, quantity 0: nothing
--      was billed at the period start; Stripe bills the rest of the period as a proration (or,
--      with proration_behavior none, not at all) ('added_in_period');
--   4. else the item version in force at the period start (int_ledger__item_versions; the
--      earliest known one when history begins later): 'item_version'.
-- A change within a period does not touch that period's fee: Stripe bills it as prorations
-- (invoice items, posted as invoice_adjustment), and the next period starts at the new values.
-- Metered items keep their current price, as fct_rated_usage rates them (classic billing mode:
-- a price change is an item replaced, so an item's periods share one price).
with items as (
    select * from {{ ref('stg_stripe__subscription_items') }}
),

versions as (
    select * from {{ ref('int_ledger__item_versions') }}
),

invoice_lines as (
    select * from {{ ref('stg_stripe__invoice_lines') }}
),

invoices as (
    select * from {{ ref('stg_stripe__invoices') }}
),

invoice_items as (
    select * from {{ ref('stg_stripe__invoice_items') }}
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

periods as (
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
    -- periods that ended by the subscription's creation are not periods of it (the first one
    -- may start before `created` when the subscription was backdated: keep the one holding it).
    -- Strictly after: a subscription created at its period start (Stripe's usual case) owes no
    -- fee for the period that ends at that instant (a one-day allowance here once billed one).
    where (period_end_stepped > subscription_created_at or periods_back = 0)
      -- nor are periods that ended before an item added later existed
      and (item_created_at is null or item_created_at <= subscription_created_at
           or period_end_stepped > item_created_at or periods_back = 0)
),

-- Stripe's non-proration line for the item's period on a finalized invoice (a void invoice
-- billed nothing). One line is expected; should two invoices carry one, their amounts add up.
invoiced as (
    select
        periods.item_period_id,
        cast(sum(invoice_lines.amount) as bigint) as invoiced_amount,
        max(invoice_lines.quantity) as invoiced_quantity,
        max(invoice_lines.price_id) as invoiced_price_id,
        min(invoice_lines.invoice_line_id) as invoice_line_id
    from periods
    inner join invoice_lines
        on invoice_lines.subscription_item_id = periods.subscription_item_id
        and invoice_lines.period_start >= periods.period_start
        and invoice_lines.period_start < periods.period_end
    inner join invoices on invoice_lines.invoice_id = invoices.invoice_id
    where periods.usage_type = 'licensed'
      and not invoice_lines.is_proration
      and invoices.status in ('open', 'paid', 'uncollectible')
    group by periods.item_period_id
),

-- Stripe's proration records of licensed items: pending invoice items and invoiced lines. At a
-- change, Stripe credits the old values and debits the new, both from the change to the
-- period's end; the credit is the smaller amount (<= 0).
prorations as (
    select subscription_item_id, period_start as changed_at, amount, price_id, quantity
    from invoice_items
    where is_proration and subscription_item_id is not null
    union all
    select invoice_lines.subscription_item_id, invoice_lines.period_start, invoice_lines.amount,
           invoice_lines.price_id, invoice_lines.quantity
    from invoice_lines
    inner join invoices on invoice_lines.invoice_id = invoices.invoice_id
    where invoice_lines.is_proration and invoice_lines.subscription_item_id is not null
      and invoices.status <> 'void'
),

period_prorations as (
    select
        periods.item_period_id,
        prorations.changed_at,
        prorations.amount,
        prorations.price_id,
        prorations.quantity,
        rank() over (partition by periods.item_period_id order by prorations.changed_at) as change_rank,
        count(*) over (partition by periods.item_period_id, prorations.changed_at) as records_at_change,
        row_number() over (
            partition by periods.item_period_id, prorations.changed_at
            order by prorations.amount, prorations.price_id, prorations.quantity
        ) as amount_rank
    from periods
    inner join prorations
        on prorations.subscription_item_id = periods.subscription_item_id
        and prorations.changed_at >= periods.period_start
        and prorations.changed_at < periods.period_end
    where periods.usage_type = 'licensed'
),

-- the first change's credit: the values in force from the period start until then (a lone
-- positive record is an item added mid-period: nothing was in force before it)
credited_before as (
    select item_period_id, price_id, quantity
    from period_prorations
    where change_rank = 1 and amount_rank = 1 and (records_at_change > 1 or amount <= 0)
),

in_force as (
    select
        periods.item_period_id,
        versions.item_version_id,
        versions.price_id,
        versions.quantity
    from periods
    inner join versions
        on versions.subscription_item_id = periods.subscription_item_id
        and (versions.in_force_from is null or versions.in_force_from <= periods.period_start)
        and (versions.in_force_to is null or periods.period_start < versions.in_force_to)
    where periods.usage_type = 'licensed'
),

chosen as (
    select
        periods.*,
        case
            when invoiced.item_period_id is not null then 'invoice_line'
            when credited_before.item_period_id is not null then 'proration_credit'
            when periods.usage_type = 'licensed' and periods.usage_from > periods.period_start
                then 'added_in_period'
            when in_force.item_period_id is not null then 'item_version'
            else 'current_item'
        end as quantity_source,
        case
            when invoiced.item_period_id is not null then coalesce(invoiced.invoiced_price_id, periods.price_id)
            when credited_before.item_period_id is not null then coalesce(credited_before.price_id, periods.price_id)
            else coalesce(in_force.price_id, periods.price_id)
        end as period_price_id,
        case
            when invoiced.item_period_id is not null then invoiced.invoiced_quantity
            when credited_before.item_period_id is not null then credited_before.quantity
            when periods.usage_type = 'licensed' and periods.usage_from > periods.period_start then 0
            when in_force.item_period_id is not null then in_force.quantity
            else periods.quantity
        end as period_quantity,
        invoiced.invoiced_amount,
        invoiced.invoice_line_id,
        in_force.item_version_id
    from periods
    left join invoiced on periods.item_period_id = invoiced.item_period_id
    left join credited_before on periods.item_period_id = credited_before.item_period_id
    left join in_force on periods.item_period_id = in_force.item_period_id
),

final as (
    select
        chosen.item_period_id,
        chosen.subscription_item_id,
        chosen.subscription_id,
        chosen.stripe_customer_id,
        chosen.customer_id,
        chosen.currency,
        chosen.subscription_status,
        chosen.subscription_ended_at,
        chosen.period_price_id as price_id,
        -- the period's price (an unknown price id keeps the current price's terms)
        case when prices.price_id is null then chosen.product_id else prices.product_id end as product_id,
        case when prices.price_id is null then chosen.billing_scheme else prices.billing_scheme end
            as billing_scheme,
        case when prices.price_id is null then chosen.tiers_mode else prices.tiers_mode end as tiers_mode,
        case when prices.price_id is null then chosen.unit_amount_decimal else prices.unit_amount_decimal end
            as unit_amount_decimal,
        case when prices.price_id is null then chosen.transform_divide_by else prices.transform_divide_by end
            as transform_divide_by,
        case when prices.price_id is null then chosen.transform_round else prices.transform_round end
            as transform_round,
        chosen.usage_type,
        chosen.meter_id,
        chosen.period_quantity as quantity,
        chosen.period_start,
        chosen.period_end,
        chosen.usage_from,
        chosen.is_current_period,
        chosen.quantity_source,
        -- minor units Stripe billed for the period (null: not on a finalized invoice yet)
        chosen.invoiced_amount,
        chosen.invoice_line_id,
        chosen.item_version_id
    from chosen
    left join prices on chosen.period_price_id = prices.price_id
)

select * from final
