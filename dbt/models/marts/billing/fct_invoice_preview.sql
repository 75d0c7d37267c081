-- The upcoming invoice of every live subscription (created when its current period ends),
-- line by line, with the invoice's totals on every line:
--   metered            usage of the current period, priced (fct_rated_usage)
--   licensed           seats / flat fees for the next period, in advance (fct_rated_usage)
--   proration          pending credits and debits from mid-period changes (int_billing__prorations)
--   discount           coupons on the discountable subtotal (metered + licensed lines):
--                      percentages first, then fixed amounts, each on what the earlier ones
--                      left (a percentage rounded once, half up); never below 0 (see below)
--   commitment_true_up the minimum commitment's shortfall: max(0, commitment - metered amounts).
--                      Tollgate's own term, not a Stripe object: it lives in the subscription's
--                      metadata `tollgate_minimum_commitment` (minor units per period, in the
--                      subscription's currency). Not discountable.
-- Every amount is an integer in minor units; each line was rounded once where it was priced.
-- invoice_subtotal = sum of all non-discount lines; invoice_total = subtotal - discount.
with recursive rated as (
    select * from {{ ref('fct_rated_usage') }}
),

prorations as (
    select * from {{ ref('int_billing__prorations') }}
),

discounts as (
    select * from {{ ref('int_billing__invoice_discounts') }}
),

items as (
    select * from {{ ref('int_billing__subscription_items') }}
),

metadata as (
    select * from {{ ref('stg_stripe__metadata') }}
),

invoices as (
    select
        subscription_id,
        min(stripe_customer_id) as stripe_customer_id,
        min(customer_id) as customer_id,
        min(currency) as currency,
        min(period_start) as invoice_period_start,
        min(period_end) as invoice_period_end
    from items
    group by subscription_id
),

rated_lines as (
    select
        rated.subscription_id,
        rated.line_type,
        rated.price_id,
        rated.price_label as description,
        rated.line_period_start,
        rated.line_period_end,
        rated.billed_quantity as quantity,
        rated.amount,
        true as is_discountable,
        rated.rated_line_id as source_id
    from rated
    inner join invoices
        on rated.subscription_id = invoices.subscription_id
        -- lines of items whose period is this invoice's (items of another interval wait)
        and rated.invoice_period_start = invoices.invoice_period_start
),

proration_lines as (
    select
        subscription_id,
        'proration' as line_type,
        price_id,
        description,
        change_at as line_period_start,
        period_end as line_period_end,
        quantity,
        amount,
        false as is_discountable,
        invoice_item_id as source_id
    from prorations
),

discountable as (
    select subscription_id, sum(amount) as discountable_subtotal
    from rated_lines
    group by subscription_id
),

-- Coupons apply one after another, in application_order (percentages first, then fixed
-- amounts), each to what the earlier ones left of the discountable subtotal (never below 0):
--   percent_off: round_half_up(remaining x percent / 100), rounded once, here;
--   amount_off:  least(amount_off, remaining).
-- So 20 % then 5 % off 3500 is 700 then 140 (5 % of 2800): 840, not 875. Stripe's docs do not
-- spell the stacking arithmetic out; this is what Stripe's upcoming invoice computes as
-- reported by integrations checked against it (bitwarden/server#7786: 20 % + 5 % on $35 ->
-- $35 x 0.95 x 0.80 = $26.60; useautumn/autumn#535: percent-off before amount-off,
-- percentages on the running amount, floored at zero). The emulator does the same
-- (billing.discount_amounts). A recursive CTE, as each step needs the previous one's rounding.
discount_base as (
    select
        discounts.subscription_id,
        discounts.discount_id,
        discounts.coupon_id,
        discounts.percent_off,
        discounts.amount_off,
        discounts.duration,
        discounts.period_start,
        discounts.period_end,
        discounts.application_order,
        cast(greatest(coalesce(discountable.discountable_subtotal, 0), 0) as bigint)
            as discountable_subtotal
    from discounts
    left join discountable on discounts.subscription_id = discountable.subscription_id
),

discount_steps as (
    select
        discount_base.*,
        discountable_subtotal as remaining_before,
        cast(case
            when percent_off is not null
                then {{ ratio_round_half_up(
                    'cast(discountable_subtotal as decimal(38, 0)) * percent_off', '100') }}
            else least(amount_off, discountable_subtotal)
        end as bigint) as discount_amount
    from discount_base
    where application_order = 1

    union all

    select
        nxt.*,
        prev.remaining_before - prev.discount_amount as remaining_before,
        cast(case
            when nxt.percent_off is not null
                then {{ ratio_round_half_up(
                    'cast(prev.remaining_before - prev.discount_amount as decimal(38, 0)) * nxt.percent_off',
                    '100') }}
            else least(nxt.amount_off, prev.remaining_before - prev.discount_amount)
        end as bigint) as discount_amount
    from discount_steps as prev
    inner join discount_base as nxt
        on nxt.subscription_id = prev.subscription_id
        and nxt.application_order = prev.application_order + 1
),

discount_lines as (
    select
        subscription_id,
        'discount' as line_type,
        cast(null as varchar) as price_id,
        case
            when percent_off is not null
                then 'Discount ' || coupon_id || ' (' || cast(cast(percent_off as decimal(38, 2)) as varchar) || ' % off, '
                    || duration || ')'
            else 'Discount ' || coupon_id || ' (' || cast(amount_off as varchar) || ' off, '
                || duration || ')'
        end as description,
        period_start as line_period_start,
        period_end as line_period_end,
        cast(null as bigint) as quantity,
        -greatest(0, least(discount_amount, remaining_before)) as amount,
        false as is_discountable,
        discount_id as source_id
    from discount_steps
),

commitments as (
    select
        invoices.subscription_id,
        cast(metadata.metadata_value as bigint) as commitment,
        coalesce(sum(rated.amount), 0) as metered_amount
    from invoices
    inner join metadata
        on metadata.object_type = 'subscription'
        and metadata.object_id = invoices.subscription_id
        and metadata.metadata_key = 'tollgate_minimum_commitment'
    left join rated_lines as rated
        on invoices.subscription_id = rated.subscription_id and rated.line_type = 'metered'
    group by invoices.subscription_id, metadata.metadata_value
),

true_up_lines as (
    select
        commitments.subscription_id,
        'commitment_true_up' as line_type,
        cast(null as varchar) as price_id,
        'Minimum commitment ' || cast(commitment as varchar) || ', metered usage '
            || cast(metered_amount as varchar) as description,
        invoices.invoice_period_start as line_period_start,
        invoices.invoice_period_end as line_period_end,
        cast(null as bigint) as quantity,
        greatest(0, commitment - metered_amount) as amount,
        false as is_discountable,
        commitments.subscription_id as source_id
    from commitments
    inner join invoices on commitments.subscription_id = invoices.subscription_id
    where commitment > metered_amount
),

lines as (
    select * from rated_lines
    union all
    select * from proration_lines
    union all
    select * from discount_lines
    union all
    select * from true_up_lines
),

numbered as (
    select
        lines.*,
        row_number() over (
            partition by lines.subscription_id
            order by
                case lines.line_type
                    when 'metered' then 1 when 'licensed' then 2 when 'proration' then 3
                    when 'commitment_true_up' then 4 else 5
                end,
                lines.line_period_start,
                lines.source_id
        ) as line_number
    from lines
),

totals as (
    select
        subscription_id,
        sum(case when line_type <> 'discount' then amount else 0 end) as invoice_subtotal,
        -sum(case when line_type = 'discount' then amount else 0 end) as invoice_discount,
        sum(amount) as invoice_total
    from lines
    group by subscription_id
),

final as (
    select
        {{ hash_key(['numbered.subscription_id', 'invoices.invoice_period_end', 'numbered.line_type', 'numbered.source_id']) }}
            as invoice_preview_line_id,
        {{ hash_key(['numbered.subscription_id', 'invoices.invoice_period_end']) }} as invoice_key,
        invoices.customer_id,
        invoices.stripe_customer_id,
        numbered.subscription_id,
        invoices.currency,
        {{ currency_exponent('invoices.currency') }} as currency_exponent,
        invoices.invoice_period_start,
        invoices.invoice_period_end,
        cast(numbered.line_number as bigint) as line_number,
        numbered.line_type,
        numbered.price_id,
        numbered.description,
        numbered.line_period_start,
        numbered.line_period_end,
        numbered.quantity,
        cast(numbered.amount as bigint) as amount,
        numbered.is_discountable,
        numbered.source_id,
        cast(totals.invoice_subtotal as bigint) as invoice_subtotal,
        cast(totals.invoice_discount as bigint) as invoice_discount,
        cast(totals.invoice_total as bigint) as invoice_total
    from numbered
    inner join invoices on numbered.subscription_id = invoices.subscription_id
    inner join totals on numbered.subscription_id = totals.subscription_id
)

select * from final
