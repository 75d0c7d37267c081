-- Usage revenue accrued per metered subscription item and UTC day of its billing period
-- (every period, int_ledger__item_periods): what the day's usage adds to the period's rated
-- amount.
--
-- The quantity is what pricing rates (int_billing__quantities): the whole units the push sends
-- (fct_meter_push_input.desired_value) for days whose 00:00 UTC lies in the period. For each
-- day, the period-to-date quantity is rated with the item's price exactly as fct_rated_usage
-- rates the period (per unit with transform_quantity packages; graduated or volume tiers):
--     amount_to_date(d) = round_half_up(rate(cumulative quantity through d))
--     accrued_amount(d) = amount_to_date(d) - amount_to_date(d - 1)
-- ROUNDING: once per day-to-date amount, half up, to the minor unit; the day amounts telescope,
-- so their sum is round_half_up(rate(period quantity)) = fct_rated_usage.amount, to the unit
-- (tested). A volume tier can make a day's amount negative (crossing into a cheaper tier
-- lowers the whole period's price): it is posted as such, and it draws no credit.
with items as (
    select * from {{ ref('int_ledger__item_periods') }}
    where usage_type = 'metered'
),

push_input as (
    select * from {{ ref('fct_meter_push_input') }}
),

tiers as (
    select
        price_id,
        tier_index,
        up_to,
        unit_amount_decimal,
        flat_amount_decimal,
        coalesce(lag(up_to) over (partition by price_id order by tier_index), 0) as lower_bound
    from {{ ref('stg_stripe__price_tiers') }}
),

daily as (
    select
        items.subscription_item_id,
        items.subscription_id,
        items.stripe_customer_id,
        items.customer_id,
        items.currency,
        items.price_id,
        items.product_id,
        items.meter_id,
        push_input.meter_event_name,
        items.billing_scheme,
        items.tiers_mode,
        items.unit_amount_decimal,
        items.transform_divide_by,
        items.transform_round,
        items.period_start,
        items.period_end,
        push_input.usage_date,
        cast(push_input.desired_value as bigint) as quantity
    from items
    inner join push_input
        on items.stripe_customer_id = push_input.stripe_customer_id
        and items.meter_id = push_input.meter_id
        -- from usage_from, not period_start: an item added mid-period bills from its addition
        and cast(push_input.usage_date as timestamp) >= items.usage_from
        and cast(push_input.usage_date as timestamp) < items.period_end
        and (items.subscription_ended_at is null
             or cast(push_input.usage_date as timestamp) < items.subscription_ended_at)
),

cumulative as (
    select
        *,
        {{ hash_key(['subscription_item_id', 'period_start', 'usage_date']) }} as accrual_key,
        cast(sum(quantity) over (
            partition by subscription_item_id, period_start
            order by usage_date
            rows between unbounded preceding and current row
        ) as bigint) as quantity_to_date
    from daily
),

tiered as (
    select
        cumulative.accrual_key,
        cast(sum(
            case
                when cumulative.tiers_mode = 'volume'
                    then cast(cumulative.quantity_to_date as decimal(38, 0)) * tiers.unit_amount_decimal
                when tiers.up_to is null
                    then cast(cumulative.quantity_to_date - tiers.lower_bound as decimal(38, 0))
                        * tiers.unit_amount_decimal
                else cast(least(cumulative.quantity_to_date, tiers.up_to) - tiers.lower_bound as decimal(38, 0))
                    * tiers.unit_amount_decimal
            end + tiers.flat_amount_decimal
        ) as decimal(38, 12)) as amount_exact
    from cumulative
    inner join tiers on cumulative.price_id = tiers.price_id
    where cumulative.billing_scheme = 'tiered'
      and cumulative.quantity_to_date > tiers.lower_bound
      and (
          cumulative.tiers_mode = 'graduated'
          or tiers.up_to is null
          or cumulative.quantity_to_date <= tiers.up_to
      )
    group by cumulative.accrual_key
),

rated as (
    select
        cumulative.*,
        case
            when cumulative.billing_scheme = 'tiered'
                then coalesce(tiered.amount_exact, cast(0 as decimal(38, 12)))
            else cast(
                cast(
                    case
                        when cumulative.transform_divide_by is null then cumulative.quantity_to_date
                        when cumulative.transform_round = 'up'
                            then {{ int_div('cumulative.quantity_to_date + cumulative.transform_divide_by - 1', 'cumulative.transform_divide_by') }}
                        else {{ int_div('cumulative.quantity_to_date', 'cumulative.transform_divide_by') }}
                    end as decimal(38, 0)
                ) * cumulative.unit_amount_decimal as decimal(38, 12)
            )
        end as amount_to_date_exact
    from cumulative
    left join tiered on cumulative.accrual_key = tiered.accrual_key
),

rounded as (
    select
        *,
        {{ round_half_up('amount_to_date_exact') }} as amount_to_date
    from rated
),

final as (
    select
        accrual_key,
        subscription_item_id,
        subscription_id,
        stripe_customer_id,
        customer_id,
        currency,
        price_id,
        product_id,
        meter_id,
        meter_event_name,
        period_start,
        period_end,
        usage_date,
        quantity,
        quantity_to_date,
        amount_to_date_exact,
        amount_to_date,
        cast(amount_to_date - coalesce(lag(amount_to_date) over (
            partition by subscription_item_id, period_start order by usage_date
        ), 0) as bigint) as accrued_amount
    from rounded
)

select * from final
