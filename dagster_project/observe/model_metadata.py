"""What a billing engineer looks at on each dbt model's materialization.

Read from the warehouse after ``dbt build`` has finished (DuckDB admits one writer: the dbt
process must be gone). Every model gets its row count; the models money depends on get their
own numbers: lines in and out, duplicates, quarantined by reason, units and amounts in minor
units. ``day`` is the run's partition. With one, figures cover that day only (lines that
landed that day, usage on that UTC day), so reading them costs the same on the hundredth day as
on the first; without one (a build of everything), they cover the whole table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from dagster import MetadataValue

from dagster_project.observe.redact import redact_obj
from dagster_project.push.amounts import SUBSCRIBED_PER_UNIT_PRICES_SQL


def _one(con, sql: str, params: list | None = None) -> tuple:
    return con.execute(sql, params or []).fetchone()


def _pairs(con, sql: str, params: list | None = None) -> dict:
    return {str(k): int(v) for k, v in con.execute(sql, params or []).fetchall()}


def _landed(day: date | None) -> tuple[str, list, str]:
    """Filter, parameters and key suffix for lines that landed on the run's day (else all)."""
    return ("where landed_date = ?", [day], "_landed_this_day") if day else ("", [], "")


def _used(day: date | None, alias: str = "") -> tuple[str, list, str]:
    """Filter, parameters and key suffix for usage on the run's day (else all)."""
    return (f"where {alias}usage_date = ?", [day], "_this_usage_day") if day else ("", [], "")


def classified(con, day: date | None) -> dict:
    where, params, label = _landed(day)
    lines, accepted, duplicates, quarantined = _one(
        con,
        f"""select count(*), count(*) filter (where status = 'accepted'),
                   count(*) filter (where status = 'duplicate'),
                   count(*) filter (where status = 'quarantined')
            from intermediate.int_usage_events_classified {where}""",
        params,
    )
    return {
        f"lines_in{label}": MetadataValue.int(lines),
        f"accepted{label}": MetadataValue.int(accepted),
        f"duplicates{label}": MetadataValue.int(duplicates),
        f"quarantined{label}": MetadataValue.int(quarantined),
        f"quarantined_by_reason{label}": MetadataValue.json(
            _pairs(
                con,
                f"""select reason, count(*) from intermediate.int_usage_events_classified
                    {where} {'and' if where else 'where'} status = 'quarantined' group by 1 order by 1""",
                params,
            )
        ),
    }


def deduplicated(con, day: date | None) -> dict:
    where, params, label = _landed(day)
    rows, customers = _one(
        con,
        f"select count(*), count(distinct stripe_customer_id) from intermediate.int_usage_events_deduplicated {where}",
        params,
    )
    return {f"rows_out{label}": MetadataValue.int(rows), f"customers{label}": MetadataValue.int(customers)}


def quarantined(con, day: date | None) -> dict:
    where, params, label = _landed(day)
    return {
        f"quarantined_by_reason{label}": MetadataValue.json(
            _pairs(con, f"select reason, count(*) from intermediate.int_usage_events_quarantined {where} group by 1 order by 1", params)
        )
    }


def usage_daily(con, day: date | None) -> dict:
    where, params, label = _used(day)
    rows, customers, events = _one(
        con,
        f"select count(*), count(distinct stripe_customer_id), coalesce(sum(event_count), 0) from marts.fct_usage_daily {where}",
        params,
    )
    units = {
        m: str(q.normalize())
        for m, q in con.execute(
            f"select meter_event_name, sum(quantity) from marts.fct_usage_daily {where} group by 1 order by 1", params
        ).fetchall()
    }
    return {
        f"rows{label}": MetadataValue.int(rows),
        f"customers{label}": MetadataValue.int(customers),
        f"events_in{label}": MetadataValue.int(int(events)),
        f"units_by_meter{label}": MetadataValue.json(units),
    }


def push_input(con, day: date | None) -> dict:
    where, params, label = _used(day, "p.")
    rows, keys_nonzero, units = _one(
        con,
        f"""select count(*), count(*) filter (where desired_value <> 0), coalesce(sum(desired_value), 0)
            from marts.fct_meter_push_input p {where}""",
        params,
    )
    amounts = _pairs(
        con,
        f"""with price as ({SUBSCRIBED_PER_UNIT_PRICES_SQL})
            select price.currency, sum(cast(round(p.desired_value * price.unit_price, 0) as bigint))
            from marts.fct_meter_push_input p join price using (stripe_customer_id, meter_id)
            {where}
            group by 1 order by 1""",
        params,
    )
    not_estimated = _one(
        con,
        f"""with price as ({SUBSCRIBED_PER_UNIT_PRICES_SQL})
            select count(*) from marts.fct_meter_push_input p
            {where} {'and' if where else 'where'} desired_value <> 0
              and not exists (select 1 from price where price.stripe_customer_id = p.stripe_customer_id and price.meter_id = p.meter_id)""",
        params,
    )[0]
    return {
        f"rows{label}": MetadataValue.int(rows),
        f"keys_with_units{label}": MetadataValue.int(keys_nonzero),
        f"desired_units{label}": MetadataValue.int(int(units)),
        f"estimated_amount_minor_units{label}": MetadataValue.json(amounts),
        f"keys_not_estimated{label}": MetadataValue.int(int(not_estimated)),
    }


def held(con, day: date | None) -> dict:
    customers, events = _one(con, "select count(distinct customer_id), coalesce(sum(event_count), 0) from marts.fct_usage_held")
    return {
        "customers_held": MetadataValue.int(customers),
        "events_held": MetadataValue.int(int(events)),
        "events_held_by_reason": MetadataValue.json(
            _pairs(con, "select reason, sum(event_count) from marts.fct_usage_held group by 1 order by 1")
        ),
        "estimated_amount_at_stake_minor_units": MetadataValue.json(
            _pairs(con, "select currency, sum(estimated_amount) from marts.fct_usage_held where estimated_amount is not null group by 1 order by 1")
        ),
    }


def file_accounting(con, day: date | None) -> dict:
    files, landed, accepted, duplicates, quarantined_ = _one(
        con,
        """select count(*), coalesce(sum(lines_landed), 0), coalesce(sum(accepted), 0),
                  coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0)
           from marts.fct_landing_file_accounting""",
    )
    return {
        "files": MetadataValue.int(files),
        "lines_landed": MetadataValue.int(int(landed)),
        "accepted": MetadataValue.int(int(accepted)),
        "duplicates": MetadataValue.int(int(duplicates)),
        "quarantined": MetadataValue.int(int(quarantined_)),
    }


MODEL_METADATA: dict[str, Callable] = {
    "int_usage_events_classified": classified,
    "int_usage_events_deduplicated": deduplicated,
    "int_usage_events_quarantined": quarantined,
    "fct_usage_daily": usage_daily,
    "fct_meter_push_input": push_input,
    "fct_usage_held": held,
    "fct_landing_file_accounting": file_accounting,
}


def metadata_for_model(con, model: str, relation: str, day: date | None) -> dict:
    meta = {"dagster/row_count": MetadataValue.int(_one(con, f"select count(*) from {relation}")[0])}
    if model in MODEL_METADATA:
        meta |= MODEL_METADATA[model](con, day)
    # JSON values pass through redaction like everything else a person reads.
    return {
        k: MetadataValue.json(redact_obj(json.loads(json.dumps(v.value)))) if isinstance(v.value, (dict, list)) else v
        for k, v in meta.items()
    }
