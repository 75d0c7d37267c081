-- Every landed line ends in exactly one status: accepted, duplicate or quarantined (with a
-- reason). One row per landed line, so lines landed = accepted + duplicate + quarantined holds
-- by construction and is checked per file in fct_landing_file_accounting. Read it through
-- int_usage_events_classified, which shows each line's status and reason.
--
-- What is stored per line is what billing and the dedupe need: the ids, the typed time and
-- quantity, and a key of the content. Everything else about a line that is not accepted
-- (status, reason, the text fields, the line as landed) is kept in one JSON column, `detail`,
-- null for an accepted line. DuckDB's writer costs about as much per column for a column
-- that is almost all null as for a full one: the 10M-line day classified in 17-20 % less
-- time with 12 columns than with the 20 it had (benchmarks/RESULTS.md). An accepted line's
-- meter is its meter_id's event name; its properties and text are in raw.usage_events.
--
-- Incremental (a daily run with var run_date) touches only:
--   * the lines landed on run_date (their rows are replaced, so a rerun is idempotent);
--   * lines held for reference data (unknown_meter, unknown_customer, ambiguous_customer,
--     no_subscription)
--     landed within the dedupe window whose usage Stripe could still accept: examined again,
--     so they are billed once their meter or customer exists;
--   * for the dedupe, canonical (first) occurrences landed within dedupe_lookback_days
--     (late_arrival_days + 1) on either side of run_date. That window is exact for copies with
--     the same content: an accepted copy lies at most late_arrival_days after its event, and
--     its original landed at most a day before the event. Beyond the window the only thing
--     not caught is an event_id reused with different content (conflicting_duplicate) after
--     the original landed more than late_arrival_days + 1 days earlier: it is treated as a
--     new event. An exact copy that late is quarantined as too_late, never billed twice.
-- Without run_date (first build, a build by hand) every landed line is classified again.
-- depends_on: {{ ref('stg_usage__landing_files') }}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_window',
    unique_key=['file_id', 'line_number'],
    replace_where='landed_date = __run_date__',
    incremental_predicates=[
        "landed_date between __dedupe_window_start__ and __dedupe_window_end__",
        "detail is not null",
    ],
) }}
{%- set daily = tollgate.is_daily_increment() -%}
{%- if daily -%}
    {%- set run_day = tollgate.run_date_minus(0) -%}
    {%- set in_window -%}
        landed_date between {{ tollgate.fill_run_placeholders('__dedupe_window_start__') }}
            and {{ tollgate.fill_run_placeholders('__dedupe_window_end__') }}
        and landed_date <> {{ run_day }}
    {%- endset -%}
    {%- set held_reason -%}
        (detail is not null and {{ tollgate.line_detail_field('detail', 'reason') }} in {{ tollgate.held_reasons() }})
    {%- endset -%}
    {%- set is_held -%}
        ({{ held_reason }} and event_at >= cast({{ tollgate.usage_window_start() }} as timestamp))
    {%- endset -%}
{%- endif -%}
{%- set content = ['customer_id', 'meter', 'event_at', 'quantity', 'properties'] -%}

with events as (
    select * from {{ ref('stg_usage__events') }}
    {%- if daily %}
    where landed_date = {{ run_day }}
    {%- endif %}
),

meters as (
    select * from {{ ref('stg_stripe__billing_meters') }}
),

customers as (
    select * from {{ ref('int_customers_mapped') }}
),

-- One row per Stripe customer and meter: a per-event `exists` over subscription items made
-- DuckDB deduplicate every (customer, meter, event time) of the batch to decorrelate it.
-- A subscription covers an event when it had not ended at the event time, so the latest end
-- (or none: still running) decides for all of them.
coverage as (
    select
        stripe_customer_id,
        meter_id,
        max(case when subscription_ended_at is null then 1 else 0 end) as has_open_subscription,
        max(subscription_ended_at) as last_subscription_ended_at
    from {{ ref('int_subscription_meter_coverage') }}
    group by stripe_customer_id, meter_id
),

-- Checks on the line alone, first failing reason wins (order = most fundamental first).
validated as (
    select
        file_id,
        source_file,
        landed_date,
        line_number,
        raw_line,
        raw_line_from_fields,
        event_timestamp_text,
        quantity_text,
        event_id,
        customer_id,
        meter,
        event_at,
        usage_date,
        quantity,
        properties,
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

{%- if daily %}

-- Lines held for reference data, examined again while Stripe could still take their usage.
held as (
    select
        file_id,
        {{ tollgate.line_detail_field('detail', 'source_file') }} as source_file,
        landed_date,
        line_number,
        {{ tollgate.line_detail_field('detail', 'raw_line') }} as raw_line,
        false as raw_line_from_fields,  -- held lines keep their text (they are quarantined)
        cast(null as {{ dbt.type_string() }}) as event_timestamp_text,
        cast(null as {{ dbt.type_string() }}) as quantity_text,
        event_id,
        customer_id,
        {{ tollgate.line_detail_field('detail', 'meter') }} as meter,
        event_at,
        cast(event_at as date) as usage_date,
        quantity,
        {{ tollgate.line_detail_field('detail', 'properties') }} as properties,
        cast(null as {{ dbt.type_string() }}) as line_reason
    from {{ this }}
    where {{ in_window }}
      and {{ is_held }}
),
{%- endif %}

-- Read by the dedupe, the joins and the rejected lines: each line is validated once.
batch as {{ tollgate.materialized_cte() }} (
    select * from validated
    {%- if daily %}
    union all
    select * from held
    {%- endif %}
),

well_formed as (
    select * from batch where line_reason is null
),

{%- if daily %}

-- The dedupe lookup: first occurrences already classified on other landing days of the window
-- (accepted lines, and lines held so long their usage can no longer be billed; the held ones
-- are in the batch), for the event ids of this batch only.
earlier as (
    select
        canonical.event_id,
        canonical.content_key,
        canonical.landed_date,
        files.source_file,
        canonical.line_number
    from (
        select event_id, content_key, landed_date, file_id, line_number
        from {{ this }}
        where {{ tollgate.line_is_canonical('detail') }} and not {{ is_held }}
          and {{ in_window }}
          and event_id in (select event_id from well_formed)
    ) as canonical
    left join {{ ref('stg_usage__landing_files') }} as files
        on files.file_id = canonical.file_id
),
{%- endif %}

-- Only event ids seen more than once need ranking (usually about 1 % of lines). Counted by a
-- hash of the id: a fixed-width key groups 10M lines faster than the text (about 0.4 CPU s);
-- a collision only sends a few more lines to the ranking, which partitions by the id itself.
contested_ids as (
    select {{ tollgate.text_hash('event_id') }} as event_key
    from well_formed group by event_key having count(*) > 1
    {%- if daily %}
    union
    select {{ tollgate.text_hash('event_id') }} as event_key from earlier
    {%- endif %}
),

ranking_set as (
    select
        file_id,
        line_number,
        event_id,
        landed_date,
        source_file,
        1 as from_batch,
        {{ content_key(content) }} as content_hash
    from well_formed
    where {{ tollgate.text_hash('event_id') }} in (select event_key from contested_ids)
    {%- if daily %}
    union all
    select
        cast(null as {{ dbt.type_string() }}) as file_id,
        line_number,
        event_id,
        landed_date,
        source_file,
        0 as from_batch,
        content_key as content_hash
    from earlier
    {%- endif %}
),

-- The first occurrence of an event_id (an earlier day's, else by landing order) is the
-- canonical one; a later copy is a duplicate when its content is the same, else a conflict.
ranked as (
    select
        file_id,
        line_number,
        from_batch,
        content_hash,
        row_number() over (
            partition by event_id order by from_batch, landed_date, source_file, line_number
        ) as occurrence,
        first_value(content_hash) over (
            partition by event_id order by from_batch, landed_date, source_file, line_number
        ) as first_content_hash
    from ranking_set
),

well_formed_ranked as (
    select
        well_formed.*,
        coalesce(ranked.occurrence, 1) as occurrence,
        ranked.occurrence > 1 and ranked.content_hash = ranked.first_content_hash as is_copy,
        customers.stripe_customer_id,
        customers.is_ambiguous as customer_is_ambiguous,
        meters.meter_id,
        meters.status as meter_status,
        -- A subscription of this customer bills this meter and had not ended at the event.
        coalesce(coverage.has_open_subscription = 1
                 or coverage.last_subscription_ended_at > well_formed.event_at, false)
            as has_subscription
    from well_formed
    left join ranked
        on ranked.from_batch = 1
        and well_formed.file_id = ranked.file_id
        and well_formed.line_number = ranked.line_number
    left join customers on well_formed.customer_id = customers.customer_id
    left join meters on well_formed.meter = meters.event_name
    left join coverage
        on coverage.stripe_customer_id = customers.stripe_customer_id
        and coverage.meter_id = meters.meter_id
),

classified_well_formed as (
    select
        file_id,
        source_file,
        landed_date,
        line_number,
        event_id,
        customer_id,
        stripe_customer_id,
        meter,
        meter_id,
        event_at,
        usage_date,
        quantity,
        properties,
        raw_line,
        raw_line_from_fields,
        event_timestamp_text,
        quantity_text,
        case
            when is_copy then 'duplicate'
            when occurrence > 1 then 'quarantined'
            when meter_id is null or meter_status <> 'active' then 'quarantined'
            when customer_is_ambiguous then 'quarantined'
            when stripe_customer_id is null then 'quarantined'
            when not has_subscription then 'quarantined'
            else 'accepted'
        end as status,
        case
            when is_copy then null
            when occurrence > 1 then 'conflicting_duplicate'
            when meter_id is null or meter_status <> 'active' then 'unknown_meter'
            when customer_is_ambiguous then 'ambiguous_customer'
            when stripe_customer_id is null then 'unknown_customer'
            when not has_subscription then 'no_subscription'
        end as reason,
        {{ content_key(content) }} as content_key
    from well_formed_ranked
),

rejected_lines as (
    select
        file_id,
        source_file,
        landed_date,
        line_number,
        event_id,
        customer_id,
        cast(null as {{ dbt.type_string() }}) as stripe_customer_id,
        meter,
        cast(null as {{ dbt.type_string() }}) as meter_id,
        event_at,
        usage_date,
        quantity,
        properties,
        raw_line,
        raw_line_from_fields,
        event_timestamp_text,
        quantity_text,
        'quarantined' as status,
        line_reason as reason,
        -- Never compared: a line that fails its own checks takes no part in the dedupe.
        null as content_key
    from batch
    where line_reason is not null
),

final as (
    select
        file_id,
        landed_date,
        line_number,
        event_id,
        customer_id,
        stripe_customer_id,
        meter_id,
        event_at,
        quantity,
        content_key,
        -- Only quarantined lines are ever shown as landed (int_usage_events_quarantined), so
        -- only theirs is kept as text.
        case when status <> 'accepted' then {{ tollgate.line_detail_json([
            ['status', 'status'],
            ['reason', 'reason'],
            ['source_file', 'source_file'],
            ['meter', 'meter'],
            ['properties', 'properties'],
            ['raw_line', "case when status = 'quarantined' then case when raw_line_from_fields then "
                ~ tollgate.usage_event_json('event_id', 'customer_id', 'meter', 'event_timestamp_text', 'quantity_text', 'properties')
                ~ ' else raw_line end end'],
        ]) }}
        end as detail,
        {% if tollgate.run_date() is not none -%}
        {{ tollgate.run_date_minus(0) }}
        {%- else -%}
        cast(null as date)
        {%- endif %} as classified_on
    from (
        select * from classified_well_formed
        union all
        select * from rejected_lines
    ) as lines
)

select * from final
