"""Read usage back from Stripe: meter event summaries per customer and meter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import stripe


def _unix(day: date) -> int:
    return int(datetime.combine(day, time(0, 0), tzinfo=UTC).timestamp())


def meter_totals(
    client: stripe.StripeClient,
    meter_ids: dict[str, str],
    stripe_customer_ids: list[str],
    start: date,
    end_exclusive: date,
) -> dict[tuple[str, str], Decimal]:
    """(stripe customer, meter event_name) -> aggregated value over [start, end) in UTC days.
    Summaries come back as JSON numbers; they are read through str() into Decimal."""
    totals: dict[tuple[str, str], Decimal] = {}
    for event_name, meter_id in meter_ids.items():
        for customer in stripe_customer_ids:
            summaries = client.v1.billing.meters.event_summaries.list(
                meter_id,
                {"customer": customer, "start_time": _unix(start), "end_time": _unix(end_exclusive), "limit": 100},
            )
            value = sum((Decimal(str(s.aggregated_value)) for s in summaries.auto_paging_iter()), Decimal(0))
            if value:
                totals[(customer, event_name)] = value
    return totals
