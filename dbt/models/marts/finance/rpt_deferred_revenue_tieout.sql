-- The deferred revenue tie-out, per customer, currency and UTC day (each day either side moved,
-- through the as-of day): what the billing source says deferred revenue should hold
-- (int_finance__deferred_revenue_schedule: licensed fees billed, straight-line recognition)
-- against the ledger's deferred_revenue account, both as of the end of the day:
--   expected_closing = sum of expected_billed - expected_recognized through the day
--   ledger_closing   = the ledger's deferred_revenue balance (credit positive) of entries
--                      effective through the day, corrections and reversals included
--   difference       = ledger_closing - expected_closing; 0 when the ledger ties out
-- Entries count on their effective date (the day the fee or recognition is for), not their
-- posting date: a correction that a closed month pushed into the current one belongs to the
-- day it corrects, as in the schedule. Test assert_deferred_revenue_rolls_forward fails on
-- any row with a difference. Integers in the currency's minor unit.
with schedule as (
    select * from {{ ref('int_finance__deferred_revenue_schedule') }}
),

entries as (
    select * from {{ ref('fct_ledger_entries') }}
    where account = 'deferred_revenue'
),

as_of as (
    select as_of_date from {{ ref('int_ledger__as_of') }}
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

expected_daily as (
    select
        stripe_customer_id,
        currency,
        schedule_date as tieout_date,
        sum(billed) as billed,
        sum(recognized) as recognized
    from schedule
    group by 1, 2, 3
),

ledger_daily as (
    select
        entries.stripe_customer_id,
        entries.currency,
        entries.effective_date as tieout_date,
        -sum(case when entries.transaction_type <> 'revenue_recognition' then entries.amount else 0 end) as billed,
        sum(case when entries.transaction_type = 'revenue_recognition' then entries.amount else 0 end) as recognized
    from entries
    cross join as_of
    where entries.effective_date <= as_of.as_of_date
    group by 1, 2, 3
),

joined as (
    select
        coalesce(expected_daily.stripe_customer_id, ledger_daily.stripe_customer_id) as stripe_customer_id,
        coalesce(expected_daily.currency, ledger_daily.currency) as currency,
        coalesce(expected_daily.tieout_date, ledger_daily.tieout_date) as tieout_date,
        coalesce(expected_daily.billed, 0) as expected_billed,
        coalesce(expected_daily.recognized, 0) as expected_recognized,
        coalesce(ledger_daily.billed, 0) as ledger_billed,
        coalesce(ledger_daily.recognized, 0) as ledger_recognized
    from expected_daily
    full outer join ledger_daily
        on expected_daily.stripe_customer_id = ledger_daily.stripe_customer_id
        and expected_daily.currency = ledger_daily.currency
        and expected_daily.tieout_date = ledger_daily.tieout_date
),

rolled as (
    select
        *,
        sum(expected_billed - expected_recognized) over w as expected_closing,
        sum(ledger_billed - ledger_recognized) over w as ledger_closing
    from joined
    window w as (
        partition by stripe_customer_id, currency order by tieout_date
        rows between unbounded preceding and current row
    )
),

final as (
    select
        {{ hash_key(['rolled.stripe_customer_id', 'rolled.currency', 'rolled.tieout_date']) }} as tieout_id,
        rolled.tieout_date,
        rolled.stripe_customer_id,
        customers.customer_id,
        rolled.currency,
        cast(rolled.expected_billed as bigint) as expected_billed,
        cast(rolled.expected_recognized as bigint) as expected_recognized,
        cast(rolled.expected_closing as bigint) as expected_closing,
        cast(rolled.ledger_billed as bigint) as ledger_billed,
        cast(rolled.ledger_recognized as bigint) as ledger_recognized,
        cast(rolled.ledger_closing as bigint) as ledger_closing,
        cast(rolled.ledger_closing - rolled.expected_closing as bigint) as difference
    from rolled
    left join customers on rolled.stripe_customer_id = customers.stripe_customer_id
)

select * from final
