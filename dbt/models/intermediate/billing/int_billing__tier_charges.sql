-- The tier breakdown of every tiered line: one row per tier the quantity reaches.
--
-- Stripe's tiers: up_to is inclusive ("up to and including"); a tier's units are those above
-- the previous tier's up_to (lower_bound, 0 for the first) and at most its own up_to (no bound
-- for up_to = inf, the last tier).
--   graduated: every tier the quantity enters charges its own units x unit_amount_decimal, plus
--              its flat_amount once ("price for the entire tier");
--   volume:    only the tier containing the whole quantity applies, to all units, plus its flat
--              amount.
-- A quantity of 0 enters no tier and costs nothing. Amounts here stay exact (DECIMAL(38, 12));
-- the line is rounded once, in fct_rated_usage.
with quantities as (
    select * from {{ ref('int_billing__quantities') }}
    where billing_scheme = 'tiered'
),

tiers as (
    select
        price_id,
        tier_index,
        up_to,
        unit_amount_decimal,
        flat_amount_decimal,
        coalesce(
            lag(up_to) over (partition by price_id order by tier_index), 0
        ) as lower_bound
    from {{ ref('stg_stripe__price_tiers') }}
),

reached as (
    select
        quantities.rated_line_id,
        quantities.price_id,
        quantities.tiers_mode,
        quantities.quantity,
        tiers.tier_index,
        tiers.lower_bound,
        tiers.up_to,
        tiers.unit_amount_decimal,
        tiers.flat_amount_decimal,
        case
            when quantities.tiers_mode = 'volume' then quantities.quantity
            when tiers.up_to is null then quantities.quantity - tiers.lower_bound
            else least(quantities.quantity, tiers.up_to) - tiers.lower_bound
        end as units_in_tier
    from quantities
    inner join tiers on quantities.price_id = tiers.price_id
    where quantities.quantity > tiers.lower_bound
      and (
          quantities.tiers_mode = 'graduated'
          or tiers.up_to is null
          or quantities.quantity <= tiers.up_to
      )
),

final as (
    select
        rated_line_id,
        price_id,
        tiers_mode,
        tier_index,
        lower_bound,
        up_to,
        cast(units_in_tier as bigint) as units_in_tier,
        unit_amount_decimal,
        flat_amount_decimal,
        cast(
            cast(units_in_tier as decimal(38, 0)) * unit_amount_decimal + flat_amount_decimal
            as decimal(38, 12)
        ) as tier_amount_exact
    from reached
)

select * from final
