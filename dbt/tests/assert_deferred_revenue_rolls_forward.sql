{{ config(meta={'dagster': {'ref': {'name': 'rpt_revenue_recognition'}}}) }}
-- The deferred revenue roll-forward ties out: per customer, currency and product, each row's
-- opening is the previous row's closing (0 for the first), closing = opening + billed -
-- recognized, and the closing of each customer's last row on a day, summed over products,
-- equals the ledger's deferred_revenue balance through that day.
with report as (
    select * from {{ ref('rpt_revenue_recognition') }}
),
chain as (
    select
        *,
        coalesce(lag(deferred_closing) over (
            partition by stripe_customer_id, currency, product_id order by recognition_date
        ), 0) as previous_closing
    from report
),
broken_chain as (
    select revenue_recognition_id, 'opening is not the previous closing' as problem
    from chain where deferred_opening <> previous_closing
    union all
    select revenue_recognition_id, 'closing is not opening + billed - recognized'
    from chain where deferred_closing <> deferred_opening + deferred_billed - deferred_recognized
),
report_balance as (
    -- per customer and day with activity: the latest closing of each product, summed
    select days.stripe_customer_id, days.currency, days.recognition_date, sum(latest.deferred_closing) as closing
    from (select distinct stripe_customer_id, currency, recognition_date from report) as days
    inner join report as latest
        on latest.stripe_customer_id = days.stripe_customer_id
        and latest.currency = days.currency
        and latest.recognition_date <= days.recognition_date
    where not exists (
        select 1 from report as later
        where later.stripe_customer_id = latest.stripe_customer_id
          and later.currency = latest.currency
          and later.product_id = latest.product_id
          and later.recognition_date > latest.recognition_date
          and later.recognition_date <= days.recognition_date
    )
    group by 1, 2, 3
),
ledger_balance as (
    select days.stripe_customer_id, days.currency, days.recognition_date, -sum(entries.amount) as closing
    from (select distinct stripe_customer_id, currency, recognition_date from report) as days
    inner join {{ ref('fct_ledger_entries') }} as entries
        on entries.stripe_customer_id = days.stripe_customer_id
        and entries.currency = days.currency
        and entries.posting_date <= days.recognition_date
        and entries.account = 'deferred_revenue'
    group by 1, 2, 3
)
select * from broken_chain
union all
select report_balance.stripe_customer_id || ' ' || cast(report_balance.recognition_date as varchar),
       'roll-forward closing ' || cast(report_balance.closing as varchar) || ' <> ledger '
           || cast(coalesce(ledger_balance.closing, 0) as varchar)
from report_balance
left join ledger_balance using (stripe_customer_id, currency, recognition_date)
where report_balance.closing <> coalesce(ledger_balance.closing, 0)
