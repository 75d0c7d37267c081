-- CLOSED PERIODS. Accounting periods are calendar months (UTC). A month is closed when finance
-- closes its books: a row in the seed ledger_closed_periods (period_month = first day of the
-- month, closed_on = the day it was closed), or an entry of the var ledger_closed_periods
-- ([{"period_month": "2026-10-01", "closed_on": "2026-11-03"}]). Nothing is ever posted into
-- a closed month after its closed_on: a correction of an entry there lands in the current
-- period (the as-of day's month) and points at the entry it corrects.
with seeded as (
    select
        cast(period_month as date) as period_month,
        cast(closed_on as date) as closed_on
    from {{ ref('ledger_closed_periods') }}
),

from_vars as (
    {% set closed = var('ledger_closed_periods', []) %}
    {% if closed %}
        {% for p in closed %}
    select cast('{{ p["period_month"] }}' as date) as period_month, cast('{{ p["closed_on"] }}' as date) as closed_on
            {% if not loop.last %}union all{% endif %}
        {% endfor %}
    {% else %}
    select cast(null as date) as period_month, cast(null as date) as closed_on where 1 = 0
    {% endif %}
),

unioned as (
    select * from seeded
    union all
    select * from from_vars
),

final as (
    select
        {{ tollgate.month_start('unioned.period_month') }} as period_month,
        min(unioned.closed_on) as closed_on
    from unioned
    -- Listed means closed, whatever day a run is posted as of: a backfill of an old day must
    -- not reopen a month finance has closed.
    where unioned.period_month is not null
    group by 1
)

select * from final
