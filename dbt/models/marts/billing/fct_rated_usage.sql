-- Every line the next invoice of each live subscription item will carry, priced: metered usage
-- for the current period and licensed quantities (seats) for the next, with the quantity, the
-- price's arithmetic and the amount in minor units.
--
--   per_unit:            billed_quantity x unit_amount_decimal
--   per_unit + transform_quantity (packages): billed_quantity = quantity / divide_by rounded
--                        up or down to a whole package (integer arithmetic), x unit_amount
--   tiered:              the sum of the line's tiers (int_billing__tier_charges)
--
-- ROUNDING HAPPENS HERE, ONCE PER LINE: amount = round_half_up(amount_exact), half away from
-- zero, to the currency's minor unit (JPY and the other zero-decimal currencies included:
-- Stripe prices are already in minor units, so the same rule rounds to a whole yen).
with quantities as (
    select * from {{ ref('int_billing__quantities') }}
),

tier_charges as (
    select * from {{ ref('int_billing__tier_charges') }}
),

tiered as (
    select
        rated_line_id,
        cast(sum(tier_amount_exact) as decimal(38, 12)) as amount_exact,
        string_agg(
            'tier ' || cast(tier_index as varchar) || ' ('
                || cast(lower_bound + 1 as varchar) || '-'
                || coalesce(cast(up_to as varchar), 'inf') || '): '
                || cast(units_in_tier as varchar) || ' x '
                || cast(unit_amount_decimal as varchar)
                || ' + flat ' || cast(flat_amount_decimal as varchar)
                || ' = ' || cast(tier_amount_exact as varchar),
            '; ' order by tier_index
        ) as tier_breakdown,
        count(*) as tiers_reached
    from tier_charges
    group by rated_line_id
),

per_unit as (
    select
        rated_line_id,
        case
            when transform_divide_by is null then quantity
            when transform_round = 'up'
                then {{ int_div('quantity + transform_divide_by - 1', 'transform_divide_by') }}
            else {{ int_div('quantity', 'transform_divide_by') }}
        end as billed_quantity
    from quantities
    where billing_scheme = 'per_unit'
),

priced as (
    select
        quantities.*,
        cast(coalesce(per_unit.billed_quantity, quantities.quantity) as bigint) as billed_quantity,
        case
            when quantities.billing_scheme = 'tiered'
                then coalesce(tiered.amount_exact, cast(0 as decimal(38, 12)))
            else cast(
                cast(per_unit.billed_quantity as decimal(38, 0)) * quantities.unit_amount_decimal
                as decimal(38, 12)
            )
        end as amount_exact,
        tiered.tier_breakdown,
        coalesce(tiered.tiers_reached, 0) as tiers_reached
    from quantities
    left join per_unit on quantities.rated_line_id = per_unit.rated_line_id
    left join tiered on quantities.rated_line_id = tiered.rated_line_id
),

final as (
    select
        rated_line_id,
        line_type,
        customer_id,
        stripe_customer_id,
        subscription_id,
        subscription_item_id,
        price_id,
        price_label,
        meter_id,
        currency,
        billing_scheme,
        tiers_mode,
        invoice_period_start,
        invoice_period_end,
        line_period_start,
        line_period_end,
        quantity,
        usage_quantity_exact,
        event_count,
        usage_days,
        first_usage_date,
        last_usage_date,
        transform_divide_by,
        transform_round,
        billed_quantity,
        unit_amount_decimal,
        tiers_reached,
        tier_breakdown,
        amount_exact,
        {{ round_half_up('amount_exact') }} as amount
    from priced
)

select * from final
