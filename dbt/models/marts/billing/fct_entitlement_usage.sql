-- Usage of each metered subscription item in its current period against the plan's included
-- allowance and usage limit.
--   included_allowance: the units of the price's leading free tiers (graduated tiers whose
--                       unit and flat amounts are 0, from the first on): what the plan includes.
--   usage_limit:        Tollgate's own term, in the price's metadata `tollgate_usage_limit`
--                       (units per period); optional.
--   entitlement_units:  the limit when set, else the allowance: what percentages are taken of.
-- Percentages and thresholds use integer arithmetic on the pushed whole units (the quantity
-- Stripe bills): pct_used is in basis points / 100, exact; crossing 80 % and 100 % is a
-- comparison of integers (quantity x 100 >= entitlement x 80), never a float.
-- The dbt tests entitlement_usage_over_80_pct / _over_100_pct (severity warn) raise them.
with rated as (
    select * from {{ ref('fct_rated_usage') }}
    where line_type = 'metered'
),

tiers as (
    select
        price_id,
        tier_index,
        up_to,
        unit_amount_decimal = 0 and flat_amount_decimal = 0 as is_free,
        -- a tier is in the free prefix when no earlier tier (nor itself) charges anything
        sum(case when unit_amount_decimal = 0 and flat_amount_decimal = 0 then 0 else 1 end)
            over (partition by price_id order by tier_index) as charged_tiers_so_far
    from {{ ref('stg_stripe__price_tiers') }}
),

allowances as (
    select price_id, max(up_to) as included_allowance
    from tiers
    where charged_tiers_so_far = 0 and up_to is not null
    group by price_id
),

limits as (
    select object_id as price_id, cast(metadata_value as bigint) as usage_limit
    from {{ ref('stg_stripe__metadata') }}
    where object_type = 'price' and metadata_key = 'tollgate_usage_limit'
),

measured as (
    select
        rated.rated_line_id,
        rated.customer_id,
        rated.stripe_customer_id,
        rated.subscription_id,
        rated.subscription_item_id,
        rated.price_id,
        rated.price_label,
        rated.meter_id,
        rated.invoice_period_start as period_start,
        rated.invoice_period_end as period_end,
        rated.quantity,
        rated.usage_quantity_exact,
        rated.event_count,
        allowances.included_allowance,
        limits.usage_limit,
        coalesce(limits.usage_limit, allowances.included_allowance) as entitlement_units
    from rated
    left join allowances on rated.price_id = allowances.price_id
    left join limits on rated.price_id = limits.price_id
),

final as (
    select
        rated_line_id as entitlement_usage_id,
        customer_id,
        stripe_customer_id,
        subscription_id,
        subscription_item_id,
        price_id,
        price_label,
        meter_id,
        period_start,
        period_end,
        quantity,
        usage_quantity_exact,
        event_count,
        included_allowance,
        usage_limit,
        entitlement_units,
        case when entitlement_units > 0
            then cast(cast({{ int_div('quantity * 10000', 'entitlement_units') }} as decimal(38, 2)) * 0.01
                as decimal(38, 2))
        end as pct_used,
        case when included_allowance > 0
            then cast(cast({{ int_div('quantity * 10000', 'included_allowance') }} as decimal(38, 2)) * 0.01
                as decimal(38, 2))
        end as pct_of_allowance,
        case
            when entitlement_units is null or entitlement_units <= 0 then 'no_entitlement'
            when quantity >= entitlement_units then 'at_or_over_100_pct'
            when quantity * 100 >= entitlement_units * 80 then 'at_or_over_80_pct'
            else 'within'
        end as threshold_status,
        greatest(coalesce(entitlement_units, 0) - quantity, 0) as units_remaining
    from measured
)

select * from final
