"""Sample data for the demo and the tests: a Stripe catalogue and landed usage files.

The catalogue is created through the SDK exactly as a user would configure Stripe. Usage files
hold mostly good events plus, on purpose, every kind of bad line; the generator returns the
ground truth (the events that must be billed) so tests can check the pipeline against numbers
computed without it.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import stripe

from dagster_project.pricing_catalog import subscribe


@dataclass(frozen=True)
class MeterSpec:
    event_name: str
    display_name: str
    product_name: str
    price: dict  # Stripe price params beyond product/currency/recurring
    quantity_kind: str  # int | decimal


METERS = [
    MeterSpec(
        "api_requests", "API requests", "API",
        {"unit_amount_decimal": "0.05"},  # half a cent per request (sub-cent)
        "int",
    ),
    MeterSpec(
        "llm_tokens", "LLM tokens", "Inference",
        {
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": 10000, "unit_amount": 0},  # included allowance
                {"up_to": 1000000, "unit_amount_decimal": "0.002"},
                {"up_to": "inf", "unit_amount_decimal": "0.001"},
            ],
        },
        "int",
    ),
    MeterSpec(
        "storage_gb_hours", "Storage (GB-hours)", "Storage",
        {"unit_amount_decimal": "0.9"},
        "decimal",
    ),
]

# Stripe customer metadata.customer_id values are the platform's keys: acct_0001, ...
def customer_key(i: int) -> str:
    return f"acct_{i:04d}"


@dataclass
class Catalog:
    meters: dict[str, str] = field(default_factory=dict)  # event_name -> meter id
    customers: dict[str, str] = field(default_factory=dict)  # customer key -> Stripe customer id


def configure_stripe(client: stripe.StripeClient, customers: int) -> Catalog:
    """Meters, products, metered prices, customers and subscriptions. Idempotent: objects that
    already exist (same meter event_name, same metadata.customer_id) are reused."""
    catalog = Catalog()
    existing_meters = {
        m.event_name: m.id for m in client.v1.billing.meters.list({"limit": 100}).auto_paging_iter()
    }
    prices: list[str] = []
    for spec in METERS:
        meter_id = existing_meters.get(spec.event_name)
        if meter_id is None:
            meter = client.v1.billing.meters.create(
                {
                    "display_name": spec.display_name,
                    "event_name": spec.event_name,
                    "default_aggregation": {"formula": "sum"},
                    "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
                    "value_settings": {"event_payload_key": "value"},
                }
            )
            meter_id = meter.id
            product = client.v1.products.create({"name": spec.product_name})
            price = client.v1.prices.create(
                {
                    "product": product.id,
                    "currency": "usd",
                    "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_id},
                    "lookup_key": f"default_{spec.event_name}",
                    # The price a new subscriber gets: what held usage is estimated at.
                    "metadata": {"tollgate_list_price": "true"},
                    **spec.price,
                }
            )
            prices.append(price.id)
        catalog.meters[spec.event_name] = meter_id
    if not prices:
        by_key = {
            p.lookup_key: p.id
            for p in client.v1.prices.list(
                {"lookup_keys": [f"default_{s.event_name}" for s in METERS], "limit": 10}
            ).data
        }
        prices = [by_key[f"default_{s.event_name}"] for s in METERS]
    existing_customers = {
        (c.metadata or {}).get("customer_id"): c.id
        for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()
    }
    for i in range(1, customers + 1):
        key = customer_key(i)
        stripe_id = existing_customers.get(key)
        if stripe_id is None:
            customer = client.v1.customers.create(
                {"name": f"Customer {i:04d}", "email": f"billing+{key}@example.com", "metadata": {"customer_id": key}}
            )
            stripe_id = customer.id
            # Customers take the demo plans in turn (pricing_catalog.py): acct_0001 keeps the
            # original three metered prices; others cover packages, volume tiers, seats,
            # coupons, JPY, commitments and a mid-period upgrade with proration.
            subscribe(client, i, stripe_id, catalog.meters, prices)
        catalog.customers[key] = stripe_id
    return catalog


@dataclass(frozen=True)
class TruthEvent:
    event_id: str
    customer_id: str
    meter: str
    timestamp: datetime
    quantity: Decimal


@dataclass
class GeneratedDay:
    landed_date: date
    files: list[Path]
    lines: int
    billable: list[TruthEvent]  # accepted events, once each
    duplicates: int
    bad_lines: dict[str, int]  # expected quarantine reason -> count


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _event(event_id: str, customer: str, meter: str, ts: datetime, quantity: Decimal, as_string: bool) -> dict:
    return {
        "event_id": event_id,
        "customer_id": customer,
        "meter": meter,
        "timestamp": _rfc3339(ts),
        # Quantities arrive both as JSON numbers and as strings, as the contract allows.
        "quantity": str(quantity) if as_string else (int(quantity) if quantity == quantity.to_integral() else float(quantity)),
        "properties": {"region": random.choice(["eu-west", "us-east", "ap-south"])},
    }


def generate_day(
    landing_root: Path,
    day: date,
    customers: int,
    events_per_customer: int = 30,
    seed: int = 7,
    bad_lines: bool = True,
) -> GeneratedDay:
    """Write three files for ``day`` (NDJSON, NDJSON.gz, Parquet) under dt=<day>/."""
    rng = random.Random(f"{seed}-{day.isoformat()}")
    random.seed(f"props-{seed}-{day.isoformat()}")
    folder = landing_root / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime.combine(day, time(0, 0), tzinfo=UTC)

    records: list[dict] = []
    truth: list[TruthEvent] = []
    for c in range(1, customers + 1):
        for n in range(events_per_customer):
            spec = METERS[(c + n) % len(METERS)]
            ts = start + timedelta(seconds=rng.randrange(0, 86400))
            if n % 10 == 9:  # some events arrive a day late: they belong to yesterday
                ts -= timedelta(days=1)
            if spec.quantity_kind == "int":
                qty = Decimal(rng.choice([1, 1, 2, 5, 10, 120, 2500]))
            else:
                qty = Decimal(rng.randrange(1, 4000)) / Decimal(1000)  # up to 3 decimals
            event_id = f"evt_{day:%Y%m%d}_{c:04d}_{n:04d}"
            records.append(_event(event_id, customer_key(c), spec.event_name, ts, qty, as_string=n % 3 == 0))
            truth.append(TruthEvent(event_id, customer_key(c), spec.event_name, ts, qty))

    duplicates = [dict(r) for r in rng.sample(records, max(1, len(records) // 100))]
    expected_bad: dict[str, int] = {}
    bad: list[str] = []
    if bad_lines:
        good = records[0]
        cases = {
            "malformed_json": ['{"event_id": "broken", "quantity": 1', "this is not json"],
            "missing_field": [json.dumps({k: v for k, v in good.items() if k != "meter"} | {"event_id": f"bad_{day}_mf"})],
            "invalid_timestamp": [json.dumps(good | {"event_id": f"bad_{day}_ts", "timestamp": "2026-02-30 noon"})],
            "invalid_quantity": [json.dumps(good | {"event_id": f"bad_{day}_q", "quantity": "lots"})],
            "negative_quantity": [json.dumps(good | {"event_id": f"bad_{day}_neg", "quantity": -3})],
            "unknown_meter": [json.dumps(good | {"event_id": f"bad_{day}_um", "meter": "teleports"})],
            "unknown_customer": [json.dumps(good | {"event_id": f"bad_{day}_uc", "customer_id": "acct_9999"})],
            "conflicting_duplicate": [json.dumps(good | {"quantity": 999999})],
            "empty_line": [""],
        }
        for reason, lines in cases.items():
            bad.extend(lines)
            expected_bad[reason] = len(lines)

    # Split across the three formats; duplicates and bad lines go to the NDJSON files, which
    # land after the Parquet file has the originals (file names sort in landing order).
    third = len(records) // 3
    parquet_rows, gz_rows, plain_rows = records[:third], records[third : 2 * third], records[2 * third :]
    files = []
    pq = folder / "a_events.parquet"
    frame = pd.DataFrame(parquet_rows)
    frame["properties"] = frame["properties"].map(json.dumps)
    frame["quantity"] = frame["quantity"].map(str)
    frame.to_parquet(pq, index=False)
    files.append(pq)
    gz = folder / "b_events.ndjson.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in gz_rows)
    files.append(gz)
    plain = folder / "c_events.ndjson"
    with plain.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in plain_rows + duplicates)
        f.writelines(line + "\n" for line in bad)
    files.append(plain)
    lines = len(records) + len(duplicates) + len(bad)
    return GeneratedDay(day, files, lines, truth, len(duplicates), expected_bad)
