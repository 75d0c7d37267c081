-- Monthly MRR per customer and currency with its movement against the month before, and ARR.
-- Every month from the customer's first month with MRR to the as-of month has a row, so a
-- customer who stops paying shows as churn, and one who comes back as reactivation:
--   new           previous 0, never had MRR before, now > 0     new_mrr = mrr
--   reactivation  previous 0, had MRR before, now > 0           reactivation_mrr = mrr
--   expansion     previous > 0, now higher                      expansion_mrr = mrr - previous
--   contraction   previous > 0, now lower but > 0               contraction_mrr = mrr - previous (< 0)
--   churn         previous > 0, now 0                           churned_mrr = -previous
--   unchanged / inactive otherwise.
-- mrr = starting_mrr + new + reactivation + expansion + contraction + churned, always.
-- arr = 12 x mrr. Amounts in the currency's minor unit (see int_finance__monthly_mrr for what
-- MRR includes).
with monthly as (
    select * from {{ ref('int_finance__monthly_mrr') }}
),

as_of as (
    select as_of_date from {{ ref('int_ledger__as_of') }}
),

customers as (
    select stripe_customer_id, currency, min(mrr_month) as first_month
    from monthly
    where mrr > 0
    group by stripe_customer_id, currency
),

spine as (
    select
        customers.stripe_customer_id,
        customers.currency,
        cast(months.month as date) as mrr_month
    from customers
    cross join as_of
    cross join {{ tollgate.timestamp_series(
        'customers.first_month',
        tollgate.month_start('greatest(cast(as_of.as_of_date as timestamp), cast(customers.first_month as timestamp))'),
        'month', 'months', 'month') }}
),

filled as (
    select
        spine.stripe_customer_id,
        spine.currency,
        spine.mrr_month,
        coalesce(monthly.licensed_mrr, 0) as licensed_mrr,
        coalesce(monthly.usage_mrr, 0) as usage_mrr,
        greatest(coalesce(monthly.mrr, 0), 0) as mrr
    from spine
    left join monthly
        on spine.stripe_customer_id = monthly.stripe_customer_id
        and spine.currency = monthly.currency
        and spine.mrr_month = monthly.mrr_month
),

with_previous as (
    select
        *,
        coalesce(lag(mrr) over w, 0) as starting_mrr,
        coalesce(max(case when mrr > 0 then 1 else 0 end) over (
            partition by stripe_customer_id, currency order by mrr_month
            rows between unbounded preceding and 1 preceding
        ), 0) as had_mrr_before
    from filled
    window w as (partition by stripe_customer_id, currency order by mrr_month)
),

classified as (
    select
        *,
        case
            when starting_mrr = 0 and mrr > 0 and had_mrr_before = 0 then 'new'
            when starting_mrr = 0 and mrr > 0 then 'reactivation'
            when starting_mrr > 0 and mrr = 0 then 'churn'
            when starting_mrr > 0 and mrr > starting_mrr then 'expansion'
            when starting_mrr > 0 and mrr < starting_mrr then 'contraction'
            when mrr > 0 then 'unchanged'
            else 'inactive'
        end as movement
    from with_previous
),

mapped as (
    select * from {{ ref('int_customers_mapped') }}
),

final as (
    select
        {{ hash_key(['classified.stripe_customer_id', 'classified.currency', 'classified.mrr_month']) }} as mrr_id,
        classified.mrr_month,
        classified.stripe_customer_id,
        mapped.customer_id,
        classified.currency,
        classified.movement,
        cast(classified.starting_mrr as bigint) as starting_mrr,
        cast(case when classified.movement = 'new' then classified.mrr else 0 end as bigint) as new_mrr,
        cast(case when classified.movement = 'reactivation' then classified.mrr else 0 end as bigint) as reactivation_mrr,
        cast(case when classified.movement = 'expansion' then classified.mrr - classified.starting_mrr else 0 end as bigint)
            as expansion_mrr,
        cast(case when classified.movement = 'contraction' then classified.mrr - classified.starting_mrr else 0 end as bigint)
            as contraction_mrr,
        cast(case when classified.movement = 'churn' then -classified.starting_mrr else 0 end as bigint) as churned_mrr,
        cast(classified.licensed_mrr as bigint) as licensed_mrr,
        cast(classified.usage_mrr as bigint) as usage_mrr,
        cast(classified.mrr as bigint) as mrr,
        cast(12 * classified.mrr as bigint) as arr
    from classified
    left join mapped on classified.stripe_customer_id = mapped.stripe_customer_id
)

select * from final
