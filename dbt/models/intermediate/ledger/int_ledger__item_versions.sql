-- Every known (price, quantity) of each subscription item and the window in which it was in
-- force: [in_force_from, in_force_to), null meaning open. Stripe's item holds only its current
-- values, so the history is what the extraction saw (raw_stripe.subscription_item_versions,
-- append-only): a version is in force from when it was first seen (at or after the change
-- itself). The earliest known version also stands for all time before it (in_force_from null):
-- where history begins later than a period, that period takes the earliest values we know.
-- The current snapshot counts as a version when the history does not end with it (items loaded
-- without the extraction, or before history was kept), seen at its extraction.
-- At any instant exactly one version of an item is in force.
with history as (
    select * from {{ ref('stg_stripe__subscription_item_versions') }}
),

items as (
    select * from {{ ref('stg_stripe__subscription_items') }}
),

latest_recorded as (
    select
        subscription_item_id,
        price_id,
        quantity,
        observed_at,
        row_number() over (
            partition by subscription_item_id order by observed_at desc, item_version_id desc
        ) as recency
    from history
),

snapshot_versions as (
    select
        {{ hash_key(["'snapshot'", 'items.subscription_item_id', 'items.price_id', 'items.quantity']) }}
            as item_version_id,
        items.subscription_item_id,
        items.subscription_id,
        items.price_id,
        items.quantity,
        -- after every recorded version when its extraction time is unknown
        coalesce(items.extracted_at, latest_recorded.observed_at) as observed_at,
        1 as from_snapshot
    from items
    left join latest_recorded
        on items.subscription_item_id = latest_recorded.subscription_item_id
        and latest_recorded.recency = 1
    where latest_recorded.subscription_item_id is null
       or latest_recorded.price_id is distinct from items.price_id
       or latest_recorded.quantity is distinct from items.quantity
),

versions as (
    select
        item_version_id, subscription_item_id, subscription_id, price_id, quantity, observed_at,
        0 as from_snapshot
    from history
    union all
    select
        item_version_id, subscription_item_id, subscription_id, price_id, quantity, observed_at,
        from_snapshot
    from snapshot_versions
),

ordered as (
    select
        *,
        row_number() over (
            partition by subscription_item_id
            order by observed_at, from_snapshot, item_version_id
        ) as version_number,
        lead(observed_at) over (
            partition by subscription_item_id
            order by observed_at, from_snapshot, item_version_id
        ) as next_observed_at
    from versions
),

final as (
    select
        item_version_id,
        subscription_item_id,
        subscription_id,
        price_id,
        quantity,
        observed_at,
        cast(version_number as bigint) as version_number,
        case when version_number = 1 then cast(null as timestamp) else observed_at end as in_force_from,
        next_observed_at as in_force_to,
        from_snapshot = 1 as is_from_snapshot
    from ordered
)

select * from final
