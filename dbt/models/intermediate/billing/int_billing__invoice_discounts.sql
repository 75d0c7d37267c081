-- Which coupons apply to each subscription's upcoming invoice (created at the end of the
-- current period), in the order they are applied: percentages first, then fixed amounts.
--   forever:   always;
--   repeating: while the invoice date (period end) is before the discount's end
--              (start + duration_in_months);
--   once:      only on the first invoice after the coupon was redeemed, i.e. the one closing
--              the period the discount started in.
-- An amount_off coupon in another currency does not apply.
with discounts as (
    select * from {{ ref('stg_stripe__subscription_discounts') }}
),

coupons as (
    select * from {{ ref('stg_stripe__coupons') }}
),

invoices as (
    select
        subscription_id,
        min(currency) as currency,
        min(period_start) as period_start,
        min(period_end) as period_end
    from {{ ref('int_billing__subscription_items') }}
    group by subscription_id
),

final as (
    select
        discounts.discount_id,
        discounts.subscription_id,
        discounts.coupon_id,
        coupons.percent_off,
        coupons.amount_off,
        coupons.duration,
        coupons.duration_in_months,
        discounts.starts_at,
        discounts.ends_at,
        invoices.period_start,
        invoices.period_end,
        row_number() over (
            partition by discounts.subscription_id
            order by coupons.percent_off is null, discounts.starts_at, discounts.discount_id
        ) as application_order
    from discounts
    inner join coupons on discounts.coupon_id = coupons.coupon_id
    inner join invoices on discounts.subscription_id = invoices.subscription_id
    where discounts.starts_at <= invoices.period_end
      and (coupons.amount_off is null or coupons.currency = invoices.currency)
      and (
          coupons.duration = 'forever'
          or (coupons.duration = 'repeating'
              and (discounts.ends_at is null or invoices.period_end < discounts.ends_at))
          or (coupons.duration = 'once'
              and discounts.starts_at >= invoices.period_start
              and discounts.starts_at < invoices.period_end)
      )
)

select * from final
