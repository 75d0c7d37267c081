-- Which credit grant pays for which day of accrued usage, in integer minor units. Plain SQL (a
-- recursive CTE), so the same model runs on DuckDB and PostgreSQL; the reference it must equal
-- is dagster_project/ledger/credits.py (burn_down), and tests/ledger compares the two.
--
-- The rule: a grant is usable from effective_at (inclusive) until expires_at (exclusive), only
-- for usage of its customer and currency on the meters it names (none named: every meter), and
-- never for a day before the grant was created. Usage draws on the usable grants in order of
-- priority (0 first), then earliest expiry (never-expiring last), then oldest (created_at),
-- then grant_id; a grant never gives more than its amount, so credit never goes negative.
-- Only usage accruals with a positive amount draw credit (a volume tier can make a day
-- negative). Facts dated after the as-of day take no part.
--
-- Computed grant by grant, per customer and currency, as credits.py does: step k hands the
-- k-th grant in that order, usage in time order (usage day, meter, accrual key), the usage it
-- can reach and that earlier grants left:
--     before(i) = sum of the left amounts of the usable rows ordered before row i
--     take(i)   = max(0, min(left(i), grant amount - before(i)))      (usable rows only)
-- which is the greedy "earliest usage first until the grant is used up" in one set-based
-- step. The recursion carries what each usage row still has left to the next grant. Integer
-- arithmetic only: nothing is divided or rounded.
{#- Grant k (joined as `grants`) can pay for the usage row `previous` (credits.py usable_for). -#}
{%- set usable -%}
(grants.effective_at <= cast(previous.usage_date as timestamp)
 and cast(grants.created_at as date) <= previous.usage_date
 and (grants.expires_at is null or cast(previous.usage_date as timestamp) < grants.expires_at)
 and (grants.applicable_meters is null
      or {{ tollgate.csv_list_contains('grants.applicable_meters', 'previous.meter_event_name') }}))
{%- endset -%}
{#- What grant k takes from the usage row: its left amount, up to what the grant still has after
    the usable rows before it (a running sum over the step's rows). -#}
{%- set take -%}
greatest(0, least(
    case when {{ usable }} then previous.amount_left else 0 end,
    grants.amount - coalesce(sum(case when {{ usable }} then previous.amount_left else 0 end) over (
        partition by previous.stripe_customer_id, previous.currency
        order by previous.usage_rank
        rows between unbounded preceding and 1 preceding
    ), 0)
))
{%- endset %}
with recursive as_of as (
    select as_of_date from {{ ref('int_ledger__as_of') }}
),

grants as (
    select
        grants.grant_id,
        grants.stripe_customer_id,
        grants.currency,
        cast(grants.amount as bigint) as amount,
        grants.effective_at,
        grants.expires_at,
        grants.created_at,
        grants.applicable_meters,
        cast(row_number() over (
            partition by grants.stripe_customer_id, grants.currency
            order by
                grants.priority,
                coalesce(grants.expires_at, cast('9999-12-31 00:00:00' as timestamp)),
                grants.created_at,
                {{ tollgate.binary_order('grants.grant_id') }}
        ) as bigint) as grant_rank
    from {{ ref('stg_finance__credit_grants') }} as grants
    cross join as_of
    where grants.stripe_customer_id is not null
      and grants.created_at is not null
      and cast(grants.created_at as date) <= as_of.as_of_date
),

usage as (
    select
        accruals.accrual_key,
        accruals.stripe_customer_id,
        accruals.currency,
        accruals.meter_event_name,
        accruals.usage_date,
        cast(accruals.accrued_amount as bigint) as amount,
        cast(row_number() over (
            partition by accruals.stripe_customer_id, accruals.currency
            order by
                accruals.usage_date,
                {{ tollgate.binary_order('accruals.meter_event_name') }},
                {{ tollgate.binary_order('accruals.accrual_key') }}
        ) as bigint) as usage_rank
    from {{ ref('int_ledger__usage_accruals') }} as accruals
    cross join as_of
    where accruals.accrued_amount > 0
      and accruals.usage_date <= as_of.as_of_date
      -- only customers with a grant take part
      and exists (
          select 1 from grants
          where grants.stripe_customer_id = accruals.stripe_customer_id
            and grants.currency = accruals.currency
      )
),

-- step 0: every usage row with its whole amount left; step k: after the k-th grant (grant_rank
-- k of the customer and currency) took its part, `taken`. Rows with nothing left drop out. Only
-- the usage row's own columns and integers recur (no text from the grants: PostgreSQL wants
-- each recursive column's collation the same in both terms).
allocation as (
    select
        cast(0 as bigint) as step,
        usage.accrual_key,
        usage.stripe_customer_id,
        usage.currency,
        usage.meter_event_name,
        usage.usage_date,
        usage.usage_rank,
        usage.amount as amount_left,
        cast(0 as bigint) as taken
    from usage

    union all

    select
        cast(previous.step + 1 as bigint) as step,
        previous.accrual_key,
        previous.stripe_customer_id,
        previous.currency,
        previous.meter_event_name,
        previous.usage_date,
        previous.usage_rank,
        cast(previous.amount_left - {{ take }} as bigint) as amount_left,
        cast({{ take }} as bigint) as taken
    from allocation as previous
    inner join grants
        on grants.stripe_customer_id = previous.stripe_customer_id
        and grants.currency = previous.currency
        and grants.grant_rank = previous.step + 1
    where previous.amount_left > 0
),

final as (
    select
        grants.grant_id,
        allocation.accrual_key,
        allocation.stripe_customer_id,
        allocation.currency,
        allocation.usage_date,
        allocation.taken as amount
    from allocation
    inner join grants
        on grants.stripe_customer_id = allocation.stripe_customer_id
        and grants.currency = allocation.currency
        and grants.grant_rank = allocation.step
    where allocation.step > 0 and allocation.taken > 0
)

select * from final
