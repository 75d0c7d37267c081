-- Every landed line ends in exactly one status: accepted, duplicate or quarantined (with a
-- reason). This model is one row per landed line, so lines landed = accepted + duplicate +
-- quarantined holds by construction and is checked per file in fct_landing_file_accounting.
with events as (
    select * from {{ ref('stg_usage__events') }}
),

meters as (
    select * from {{ ref('stg_stripe__billing_meters') }}
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

coverage as (
    select * from {{ ref('int_subscription_meter_coverage') }}
),

-- Checks on the line alone, first failing reason wins (order = most fundamental first).
validated as (
    select
        events.*,
        case
            when parse_error is not null then parse_error
            when event_id is null or customer_id is null or meter is null
                or event_timestamp_text is null or quantity_text is null then 'missing_field'
            when event_at is null then 'invalid_timestamp'
            when quantity is null then 'invalid_quantity'
            when quantity < 0 then 'negative_quantity'
            -- `properties` is an optional object of dimensions; anything else is garbage.
            when properties is not null and properties <> 'null'
                and not {{ json_is_object('properties') }} then 'invalid_properties'
            -- The file landed on landed_date, so an event after that day (plus clock skew) is
            -- from the future.
            when event_at > {{ add_interval(add_interval('cast(landed_date as timestamp)', 1, 'day'),
                                var('future_tolerance_minutes'), 'minute') }} then 'future_timestamp'
            when event_at < {{ add_interval('cast(landed_date as timestamp)',
                                -1 * var('late_arrival_days'), 'day') }} then 'too_late'
        end as line_reason
    from events
),

-- Among well-formed events, the first occurrence of an event_id (by landing order) is the
-- canonical one; a later copy is a duplicate when its content is the same, else a conflict.
ranked as (
    select
        validated.*,
        row_number() over (
            partition by event_id order by landed_date, source_file, line_number
        ) as occurrence,
        first_value({{ hash_key(['customer_id', 'meter', 'event_at', 'quantity', 'properties']) }}) over (
            partition by event_id order by landed_date, source_file, line_number
        ) as first_content_hash,
        {{ hash_key(['customer_id', 'meter', 'event_at', 'quantity', 'properties']) }} as content_hash
    from validated
    where line_reason is null
),

well_formed as (
    select
        ranked.*,
        customers.stripe_customer_id,
        customers.is_ambiguous as customer_is_ambiguous,
        meters.meter_id,
        meters.status as meter_status,
        -- A subscription of this customer bills this meter and had not ended at the event.
        exists (
            select 1 from coverage
            where coverage.stripe_customer_id = customers.stripe_customer_id
              and coverage.meter_id = meters.meter_id
              and (coverage.subscription_ended_at is null
                   or coverage.subscription_ended_at > ranked.event_at)
        ) as has_subscription
    from ranked
    left join customers on ranked.customer_id = customers.customer_id
    left join meters on ranked.meter = meters.event_name
),

classified_well_formed as (
    select
        file_id,
        line_number,
        stripe_customer_id,
        meter_id,
        case
            when occurrence > 1 and content_hash = first_content_hash then 'duplicate'
            when occurrence > 1 then 'quarantined'
            when meter_id is null or meter_status <> 'active' then 'quarantined'
            when customer_is_ambiguous then 'quarantined'
            when stripe_customer_id is null then 'quarantined'
            when not has_subscription then 'quarantined'
            else 'accepted'
        end as status,
        case
            when occurrence > 1 and content_hash = first_content_hash then null
            when occurrence > 1 then 'conflicting_duplicate'
            when meter_id is null or meter_status <> 'active' then 'unknown_meter'
            when customer_is_ambiguous then 'ambiguous_customer'
            when stripe_customer_id is null then 'unknown_customer'
            when not has_subscription then 'no_subscription'
        end as reason
    from well_formed
),

final as (
    select
        validated.file_id,
        validated.source_file,
        validated.landed_date,
        validated.line_number,
        validated.event_id,
        validated.customer_id,
        classified_well_formed.stripe_customer_id,
        validated.meter,
        classified_well_formed.meter_id,
        validated.event_at,
        validated.usage_date,
        validated.quantity,
        validated.properties,
        validated.raw_line,
        coalesce(classified_well_formed.status, 'quarantined') as status,
        coalesce(validated.line_reason, classified_well_formed.reason) as reason
    from validated
    left join classified_well_formed
        on validated.file_id = classified_well_formed.file_id
        and validated.line_number = classified_well_formed.line_number
)

select * from final
