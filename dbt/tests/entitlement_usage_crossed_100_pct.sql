-- Warning: a customer has used all (100 % or more) of a plan's entitlement in the current
-- period: usage beyond it is billed at the paid tiers, or a free plan should be upgraded.
{{ config(severity='warn') }}
select customer_id, stripe_customer_id, price_id, period_start, quantity, entitlement_units, pct_used
from {{ ref('fct_entitlement_usage') }}
where threshold_status = 'at_or_over_100_pct'
