-- Revenue at risk: valid usage held back because its customer cannot be billed yet, per
-- platform customer, meter and reason, with the estimated amount at stake.
--   unknown_customer    no Stripe customer carries this metadata.customer_id
--   ambiguous_customer  several Stripe customers carry it
--   no_subscription     a Stripe customer exists, but no subscription of it bills this meter
-- Held usage is not dropped: every run classifies it again, and once the customer or the
-- subscription appears in Stripe it is accepted and pushed like any other usage.
--
-- Estimate: the meter's list price times the held units, in the price's minor unit, rounded
-- once per row (customer, meter, reason), half up. Quantities are >= 0, so round() (half away
-- from zero) is half up. The list price is the meter's single active price, or, where a meter
-- has several (plans, currencies), the one whose metadata says `tollgate_list_price: "true"`
-- (Tollgate's own term: which plan a new subscriber would get). Tiered prices, prices with
-- transform_quantity, several candidates or none are not estimated (estimate_status says why)
-- rather than guessed.
with held as (
    select * from {{ ref('int_usage_events_quarantined') }}
    where reason in ('unknown_customer', 'ambiguous_customer', 'no_subscription')
),

meters as (
    select * from {{ ref('stg_stripe__billing_meters') }}
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

active_prices as (
    select * from {{ ref('stg_stripe__prices') }}
    where is_active and meter_id is not null
),

list_price_flags as (
    select object_id as price_id
    from {{ ref('stg_stripe__metadata') }}
    where object_type = 'price' and metadata_key = 'tollgate_list_price' and metadata_value = 'true'
),

prices as (
    -- A meter's flagged list prices where it has any, else all its active prices.
    select active_prices.*
    from active_prices
    where active_prices.price_id in (select price_id from list_price_flags)
       or not exists (
           select 1 from active_prices as flagged
           where flagged.meter_id = active_prices.meter_id
             and flagged.price_id in (select price_id from list_price_flags)
       )
),

meter_prices as (
    select
        meter_id,
        count(*) as active_prices,
        min(currency) as currency,
        min(billing_scheme) as billing_scheme,
        max(case when transform_divide_by is not null then 1 else 0 end) as has_transform,
        min(coalesce(unit_amount_decimal, cast(unit_amount as decimal(38, 12)))) as unit_amount_decimal
    from prices
    group by meter_id
),

grouped as (
    select
        held.customer_id,
        customers.stripe_customer_id,
        held.meter as meter_event_name,
        meters.meter_id,
        held.reason,
        cast(sum(held.quantity) as decimal(38, 12)) as quantity,
        count(*) as event_count,
        min(held.event_at) as first_event_at,
        max(held.event_at) as last_event_at,
        min(held.landed_date) as first_landed_date
    from held
    left join customers on held.customer_id = customers.customer_id
    left join meters on held.meter = meters.event_name
    group by held.customer_id, customers.stripe_customer_id, held.meter, meters.meter_id, held.reason
),

final as (
    select
        {{ hash_key(['grouped.customer_id', 'grouped.meter_event_name', 'grouped.reason']) }} as held_usage_id,
        grouped.customer_id,
        grouped.stripe_customer_id,
        grouped.meter_event_name,
        grouped.meter_id,
        grouped.reason,
        grouped.quantity,
        grouped.event_count,
        grouped.first_event_at,
        grouped.last_event_at,
        grouped.first_landed_date,
        case when meter_prices.active_prices = 1 then meter_prices.currency end as currency,
        case when meter_prices.active_prices = 1 and meter_prices.billing_scheme = 'per_unit'
                  and meter_prices.has_transform = 0
             then meter_prices.unit_amount_decimal end as unit_amount_decimal,
        case when meter_prices.active_prices = 1 and meter_prices.billing_scheme = 'per_unit'
                  and meter_prices.has_transform = 0 and meter_prices.unit_amount_decimal is not null
             then cast(round(grouped.quantity * meter_prices.unit_amount_decimal, 0) as bigint)
        end as estimated_amount,
        case
            when meter_prices.meter_id is null then 'not estimated: no active price for this meter'
            when meter_prices.active_prices > 1 then 'not estimated: several active prices for this meter'
            when meter_prices.billing_scheme = 'tiered' then 'not estimated: tiered price'
            when meter_prices.has_transform = 1 then 'not estimated: price transforms quantity'
            when meter_prices.unit_amount_decimal is null then 'not estimated: price has no unit amount'
            else 'estimated'
        end as estimate_status
    from grouped
    left join meter_prices on grouped.meter_id = meter_prices.meter_id
)

select * from final
