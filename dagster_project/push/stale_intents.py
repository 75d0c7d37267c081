"""Unresolved intents older than Stripe's identifier window are read back, never resent blindly.

Stripe deduplicates a meter event ``identifier`` for "a rolling period of at least 24 hours".
Resending an unresolved intent (sent, answer lost, then a crash) under the same identifier is
safe inside that window; after it, a copy of an event that did land would be counted twice. So
an intent left unresolved for longer than ``RESEND_WINDOW`` (20 h: 4 h short of Stripe's 24 h,
room for a slow run) is settled by reading Stripe back, per (customer, meter, day):

* Stripe's day total = delivered + every unresolved value of the key: they landed, each is
  recorded ``delivered`` ("confirmed by read-back").
* Stripe's day total = delivered: none landed, each is recorded ``lost``; the plan then sends
  the missing units as a new intent under a new identifier (the next sequence number).
* Anything else: ambiguous (part landed, or someone else sent events for that day). The intents
  stay unresolved and are not resent; nothing new is planned for the key; the push's check fails
  and names them, for a person to settle.

Meter events aggregate asynchronously in Stripe; 20 hours after a call its summary is settled.
Every event the push sends for a day carries 00:00 UTC of that day, so the day's summary holds
exactly that key's events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import stripe

RESEND_WINDOW = timedelta(hours=20)


@dataclass
class StaleResolution:
    confirmed: int = 0  # intents found in Stripe: recorded delivered
    lost: int = 0  # intents not in Stripe: recorded lost, their units re-planned
    held_identifiers: set[str] = field(default_factory=set)  # ambiguous: neither resent nor re-planned
    held_details: list[str] = field(default_factory=list)


def stale_keys(con: duckdb.DuckDBPyConnection, now: datetime) -> list[tuple]:
    """(push_key, customer, meter, day, delivered units, unresolved units, unresolved identifiers)
    for each key with an unresolved intent created before now - RESEND_WINDOW."""
    cutoff = now.astimezone(UTC).replace(tzinfo=None) - RESEND_WINDOW
    return con.execute(
        """
        with outcomes as (select * from push.meter_event_latest_outcomes),
        logged as (
            select i.*, o.outcome from push.meter_event_intents i left join outcomes o using (identifier)
        )
        select
            push_key,
            any_value(stripe_customer_id),
            any_value(meter_event_name),
            any_value(usage_date),
            coalesce(sum(value) filter (where outcome = 'delivered'), 0),
            coalesce(sum(value) filter (where outcome is null), 0),
            list(identifier order by sequence_number) filter (where outcome is null)
        from logged
        group by push_key
        having count(*) filter (where outcome is null and created_at < ?) > 0
        order by push_key
        """,
        [cutoff],
    ).fetchall()


def resolve_stale_intents(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    now: datetime,
    run_id: str | None,
) -> StaleResolution:
    # Imported here: meter_push calls this module before it sends anything.
    from dagster_project.push.meter_push import Outcome, record_outcomes
    from dagster_project.push.reconcile import stripe_daily_values

    resolution = StaleResolution()
    keys = stale_keys(con, now)
    if not keys:
        return resolution
    meter_ids = {m.event_name: m.id for m in client.v1.billing.meters.list({"limit": 100}).auto_paging_iter()}
    outcomes: list[Outcome] = []
    for _key, customer, meter, day, delivered, unresolved, identifiers in keys:
        in_stripe = (
            stripe_daily_values(client, meter_ids[meter], customer, day, day).get(day, Decimal(0))
            if meter in meter_ids
            else None
        )
        if in_stripe == Decimal(delivered) + Decimal(unresolved):
            outcomes += [Outcome(i, "delivered", None, "confirmed by read-back") for i in identifiers]
            resolution.confirmed += len(identifiers)
        elif in_stripe == Decimal(delivered):
            outcomes += [
                Outcome(i, "lost", None, "not in Stripe when read back after the identifier window")
                for i in identifiers
            ]
            resolution.lost += len(identifiers)
        else:
            resolution.held_identifiers.update(identifiers)
            held = "no such meter" if in_stripe is None else in_stripe.normalize()
            resolution.held_details.append(
                f"{customer} {meter} {day}: Stripe holds {held}; the push log says {delivered} "
                f"delivered + {unresolved} unresolved for longer than {RESEND_WINDOW}: not resent"
            )
    record_outcomes(con, outcomes, run_id)
    return resolution
