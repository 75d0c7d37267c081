-- Each preview invoice's totals are the sums of its lines, and its total is never negative
-- before prorations (discounts never exceed the discountable subtotal).
with lines as (
    select * from {{ ref('fct_invoice_preview') }}
),

sums as (
    select
        invoice_key,
        min(invoice_subtotal) as invoice_subtotal,
        min(invoice_discount) as invoice_discount,
        min(invoice_total) as invoice_total,
        sum(case when line_type <> 'discount' then amount else 0 end) as line_subtotal,
        -sum(case when line_type = 'discount' then amount else 0 end) as line_discount,
        sum(case when line_type in ('metered', 'licensed') then amount else 0 end) as discountable
    from lines
    group by invoice_key
)

select *
from sums
where invoice_subtotal <> line_subtotal
   or invoice_discount <> line_discount
   or invoice_total <> line_subtotal - line_discount
   or line_discount > discountable
   or line_discount < 0
