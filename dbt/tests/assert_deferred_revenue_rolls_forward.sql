{{ config(meta={'dagster': {'ref': {'name': 'rpt_deferred_revenue_tieout'}}}) }}
-- Deferred revenue ties out against its sources, not against itself:
--   1. per customer, currency and day, the ledger's deferred_revenue balance equals what the
--      billing source says it should be (licensed fees billed less the straight-line schedule,
--      rpt_deferred_revenue_tieout): a recognition entry missing, a fee posted twice or a fee
--      of the wrong amount shows as a difference on the day it happened and every day after;
--   2. the revenue report's roll-forward chains (each row's opening is the previous row's
--      closing, closing = opening + billed - recognized), and its closing on the as-of day,
--      summed over products, equals that expected balance.
with tieout as (
    select * from {{ ref('rpt_deferred_revenue_tieout') }}
),
report as (
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
report_closing as (
    -- the last row of each product carries its closing through the as-of day
    select stripe_customer_id, currency, sum(deferred_closing) as closing
    from chain
    where not exists (
        select 1 from report as later
        where later.stripe_customer_id = chain.stripe_customer_id
          and later.currency = chain.currency
          and later.product_id = chain.product_id
          and later.recognition_date > chain.recognition_date
    )
    group by 1, 2
),
expected_closing as (
    select stripe_customer_id, currency, expected_closing as closing
    from tieout
    where not exists (
        select 1 from tieout as later
        where later.stripe_customer_id = tieout.stripe_customer_id
          and later.currency = tieout.currency
          and later.tieout_date > tieout.tieout_date
    )
)
select
    stripe_customer_id || ' ' || currency || ' ' || cast(tieout_date as varchar) as problem_key,
    'ledger deferred revenue ' || cast(ledger_closing as varchar) || ' <> expected from billing '
        || cast(expected_closing as varchar) as problem
from tieout
where difference <> 0
union all
select revenue_recognition_id, 'report: opening is not the previous closing'
from chain where deferred_opening <> previous_closing
union all
select revenue_recognition_id, 'report: closing is not opening + billed - recognized'
from chain where deferred_closing <> deferred_opening + deferred_billed - deferred_recognized
union all
select coalesce(r.stripe_customer_id, e.stripe_customer_id) || ' ' || coalesce(r.currency, e.currency),
       'report closing ' || cast(coalesce(r.closing, 0) as varchar) || ' <> expected from billing '
           || cast(coalesce(e.closing, 0) as varchar)
from report_closing as r
full outer join expected_closing as e
    on r.stripe_customer_id = e.stripe_customer_id and r.currency = e.currency
where coalesce(r.closing, 0) <> coalesce(e.closing, 0)
