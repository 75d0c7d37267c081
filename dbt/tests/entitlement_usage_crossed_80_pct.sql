-- Warning: a customer has used 80 % or more (but less than 100 %) of a plan's entitlement in
-- the current period. A warning, not an error: it informs (e.g. an upgrade offer), it does not
-- stop billing.
{{ config(severity='warn') }}
select customer_id, stripe_customer_id, price_id, period_start, quantity, entitlement_units, pct_used
from {{ ref('fct_entitlement_usage') }}
where threshold_status = 'at_or_over_80_pct'
