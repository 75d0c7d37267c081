"""Copy Stripe objects into ``raw_stripe.*`` through the official SDK, with pagination.

Each extraction is a full snapshot of one kind of object, replaced in one transaction, so a
rerun converges on Stripe's current state. Money fields stay integers (minor units) and
``unit_amount_decimal`` stays the exact decimal string Stripe sends.

One table is not a snapshot: ``subscription_item_versions`` keeps every (price, quantity) a
subscription item was seen with and when it was first seen, append-only, because Stripe's item
holds only its current values and the ledger must not re-price past periods with them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd
import stripe

PAGE_SIZE = 100  # Stripe's maximum page size: fewest round trips


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: dict[str, str]  # column -> DuckDB type, in order

    def ddl(self) -> str:
        cols = ",\n    ".join(f"{c} {t}" for c, t in self.columns.items())
        return f"create table if not exists raw_stripe.{self.name} (\n    {cols}\n)"


def _table(table_name: str, /, **columns: str) -> RawTable:
    return RawTable(table_name, {**columns, "raw_json": "varchar", "extracted_at": "timestamp"})


TABLES: dict[str, RawTable] = {
    t.name: t
    for t in [
        _table(
            "customers", id="varchar", created="timestamp", email="varchar", name="varchar",
            metadata_customer_id="varchar", metadata="varchar", livemode="boolean",
        ),
        _table("products", id="varchar", name="varchar", active="boolean", created="timestamp"),
        _table(
            "prices", id="varchar", product="varchar", currency="varchar", unit_amount="bigint",
            unit_amount_decimal="varchar", billing_scheme="varchar", tiers_mode="varchar",
            tiers="varchar", transform_divide_by="bigint", transform_round="varchar",
            price_type="varchar", recurring_interval="varchar", recurring_interval_count="bigint",
            recurring_usage_type="varchar", recurring_meter="varchar", nickname="varchar",
            lookup_key="varchar", active="boolean", created="timestamp",
        ),
        _table(
            "billing_meters", id="varchar", event_name="varchar", display_name="varchar",
            status="varchar", aggregation_formula="varchar", customer_payload_key="varchar",
            value_payload_key="varchar", created="timestamp",
        ),
        _table(
            "subscriptions", id="varchar", customer="varchar", status="varchar",
            currency="varchar", cancel_at_period_end="boolean", created="timestamp",
            canceled_at="timestamp", ended_at="timestamp",
        ),
        _table(
            "subscription_items", id="varchar", subscription="varchar", price="varchar",
            quantity="bigint", current_period_start="timestamp", current_period_end="timestamp",
            created="timestamp",
        ),
        _table(
            "invoices", id="varchar", customer="varchar", subscription="varchar",
            status="varchar", currency="varchar", period_start="timestamp",
            period_end="timestamp", subtotal="bigint", total="bigint", amount_due="bigint",
            created="timestamp",
        ),
        _table(
            "invoice_lines", id="varchar", invoice="varchar", amount="bigint",
            currency="varchar", quantity="bigint", price="varchar", period_start="timestamp",
            period_end="timestamp", description="varchar", subscription_item="varchar",
            proration="boolean",
        ),
        # Append-only (never replaced): one row per (item, price, quantity) each time the item
        # is seen with values other than its latest row's. id = sha256 of those and observed_at.
        _table(
            "subscription_item_versions", id="varchar", subscription_item="varchar",
            subscription="varchar", price="varchar", quantity="bigint", observed_at="timestamp",
        ),
        # Pricing (issue 4). Tiers and metadata are flattened here, in Python, so the dbt
        # models need no warehouse-specific JSON functions. Decimals stay exact strings.
        _table(
            "price_tiers", price="varchar", tier_index="bigint", up_to="bigint",
            unit_amount_decimal="varchar", flat_amount_decimal="varchar",
        ),
        _table("price_metadata", price="varchar", key="varchar", value="varchar"),
        _table("subscription_metadata", subscription="varchar", key="varchar", value="varchar"),
        _table(
            "subscription_discounts", id="varchar", subscription="varchar", coupon="varchar",
            starts_at="timestamp", ends_at="timestamp",
        ),
        _table(
            "coupons", id="varchar", percent_off="varchar", amount_off="bigint",
            currency="varchar", duration="varchar", duration_in_months="bigint",
            valid="boolean", created="timestamp",
        ),
        _table(
            "invoice_items", id="varchar", customer="varchar", subscription="varchar",
            subscription_item="varchar", invoice="varchar", amount="bigint", currency="varchar",
            price="varchar", quantity="bigint", period_start="timestamp",
            period_end="timestamp", proration="boolean", discountable="boolean",
            description="varchar", date="timestamp",
        ),
    ]
}


def ensure_raw_stripe_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw_stripe")
    existing = set(con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = 'raw_stripe'"
    ).fetchall())
    for table in TABLES.values():
        con.execute(table.ddl())
        # a warehouse created before a column was added gets it (null for earlier rows)
        for column, type_ in table.columns.items():
            if existing and (table.name, column) not in existing:
                con.execute(f"alter table raw_stripe.{table.name} add column if not exists {column} {type_}")


def _ts(unix: int | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC).replace(tzinfo=None)


def _get(obj: dict, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _id(value: Any) -> str | None:
    """An expandable field is an id or an expanded object; keep the id."""
    return value.get("id") if isinstance(value, dict) else value


def _all(listing: Any) -> Iterable[dict]:
    for obj in listing.auto_paging_iter():
        # for_json: the SDK parses *_decimal fields into Decimal; keep them as the exact strings.
        yield obj.to_dict(for_json=True)


# -- one flattener per Stripe object kind: dict -> row of the raw table (without bookkeeping) --

def _customer_row(c: dict) -> dict:
    meta = c.get("metadata") or {}
    return {
        "id": c["id"], "created": _ts(c.get("created")), "email": c.get("email"),
        "name": c.get("name"), "metadata_customer_id": meta.get("customer_id"),
        "metadata": json.dumps(meta, sort_keys=True), "livemode": c.get("livemode"),
    }


def _product_row(p: dict) -> dict:
    return {"id": p["id"], "name": p.get("name"), "active": p.get("active"), "created": _ts(p.get("created"))}


def _price_tier_rows(p: dict) -> list[dict]:
    return [
        {
            "price": p["id"], "tier_index": i, "up_to": t.get("up_to"),
            "unit_amount_decimal": _decimal_text(t.get("unit_amount_decimal"), t.get("unit_amount")),
            "flat_amount_decimal": _decimal_text(t.get("flat_amount_decimal"), t.get("flat_amount")),
        }
        for i, t in enumerate(p.get("tiers") or [], start=1)
    ]


def _decimal_text(decimal: Any, integer: Any) -> str | None:
    """The exact decimal string Stripe sent (``*_decimal``), else the integer field as text."""
    if decimal is not None:
        return str(decimal)
    return None if integer is None else str(integer)


def _metadata_rows(obj: dict, id_column: str) -> list[dict]:
    return [
        {id_column: obj["id"], "key": k, "value": v}
        for k, v in sorted((obj.get("metadata") or {}).items())
    ]


def _discount_row(d: dict, subscription_id: str) -> dict:
    coupon = _get(d, "source", "coupon") or d.get("coupon")
    return {
        "id": d["id"], "subscription": subscription_id, "coupon": _id(coupon),
        "starts_at": _ts(d.get("start")), "ends_at": _ts(d.get("end")),
    }


def _coupon_row(c: dict) -> dict:
    # percent_off is a JSON number (e.g. 12.5); str() of the parsed float keeps its digits.
    percent = c.get("percent_off")
    return {
        "id": c["id"], "percent_off": None if percent is None else str(percent),
        "amount_off": c.get("amount_off"), "currency": c.get("currency"),
        "duration": c.get("duration"), "duration_in_months": c.get("duration_in_months"),
        "valid": c.get("valid"), "created": _ts(c.get("created")),
    }


def _invoice_item_row(i: dict) -> dict:
    details = _get(i, "parent", "subscription_details") or {}
    return {
        "id": i["id"], "customer": _id(i.get("customer")),
        "subscription": _id(details.get("subscription")),
        "subscription_item": _id(details.get("subscription_item")),
        "invoice": _id(i.get("invoice")), "amount": i.get("amount"),
        "currency": i.get("currency"),
        "price": _get(i, "pricing", "price_details", "price") or _id(i.get("price")),
        "quantity": i.get("quantity"), "period_start": _ts(_get(i, "period", "start")),
        "period_end": _ts(_get(i, "period", "end")), "proration": i.get("proration"),
        "discountable": i.get("discountable"), "description": i.get("description"),
        "date": _ts(i.get("date")),
    }


def _price_row(p: dict) -> dict:
    recurring = p.get("recurring") or {}
    transform = p.get("transform_quantity") or {}
    return {
        "id": p["id"], "product": _id(p.get("product")), "currency": p.get("currency"),
        "unit_amount": p.get("unit_amount"), "unit_amount_decimal": p.get("unit_amount_decimal"),
        "billing_scheme": p.get("billing_scheme"), "tiers_mode": p.get("tiers_mode"),
        "tiers": json.dumps(p["tiers"]) if p.get("tiers") is not None else None,
        "transform_divide_by": transform.get("divide_by"), "transform_round": transform.get("round"),
        "price_type": p.get("type"), "recurring_interval": recurring.get("interval"),
        "recurring_interval_count": recurring.get("interval_count"),
        "recurring_usage_type": recurring.get("usage_type"), "recurring_meter": recurring.get("meter"),
        "nickname": p.get("nickname"), "lookup_key": p.get("lookup_key"),
        "active": p.get("active"), "created": _ts(p.get("created")),
    }


def _meter_row(m: dict) -> dict:
    return {
        "id": m["id"], "event_name": m.get("event_name"), "display_name": m.get("display_name"),
        "status": m.get("status"), "aggregation_formula": _get(m, "default_aggregation", "formula"),
        "customer_payload_key": _get(m, "customer_mapping", "event_payload_key"),
        "value_payload_key": _get(m, "value_settings", "event_payload_key"),
        "created": _ts(m.get("created")),
    }


def _subscription_row(s: dict) -> dict:
    return {
        "id": s["id"], "customer": _id(s.get("customer")), "status": s.get("status"),
        "currency": s.get("currency"), "cancel_at_period_end": s.get("cancel_at_period_end"),
        "created": _ts(s.get("created")), "canceled_at": _ts(s.get("canceled_at")),
        "ended_at": _ts(s.get("ended_at")),
    }


def _subscription_item_row(item: dict, subscription_id: str) -> dict:
    return {
        "id": item["id"], "subscription": subscription_id, "price": _id(item.get("price")),
        "quantity": item.get("quantity"),
        "current_period_start": _ts(item.get("current_period_start")),
        "current_period_end": _ts(item.get("current_period_end")),
        "created": _ts(item.get("created")),
    }


def _invoice_row(i: dict) -> dict:
    return {
        "id": i["id"], "customer": _id(i.get("customer")),
        "subscription": _id(_get(i, "parent", "subscription_details", "subscription") or i.get("subscription")),
        "status": i.get("status"), "currency": i.get("currency"),
        "period_start": _ts(i.get("period_start")), "period_end": _ts(i.get("period_end")),
        "subtotal": i.get("subtotal"), "total": i.get("total"), "amount_due": i.get("amount_due"),
        "created": _ts(i.get("created")),
    }


def _invoice_line_row(line: dict, invoice_id: str) -> dict:
    price = _get(line, "pricing", "price_details", "price") or _id(line.get("price"))
    # Since the basil API version a line names what generated it under `parent`: a subscription
    # item (`subscription_item_details`: the item and whether the line is a proration) or an
    # invoice item (`invoice_item_details`: a proration flag, no item).
    parent = line.get("parent") or {}
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    return {
        "id": line["id"], "invoice": invoice_id, "amount": line.get("amount"),
        "currency": line.get("currency"), "quantity": line.get("quantity"), "price": price,
        "period_start": _ts(_get(line, "period", "start")),
        "period_end": _ts(_get(line, "period", "end")), "description": line.get("description"),
        "subscription_item": _id(details.get("subscription_item")),
        "proration": details.get("proration"),
    }


def _with_raw(row: dict, obj: dict) -> dict:
    return {**row, "raw_json": json.dumps(obj, sort_keys=True, default=str)}


def _replace(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict], extracted_at: datetime) -> int:
    spec = TABLES[table]
    frame = pd.DataFrame([{**r, "extracted_at": extracted_at} for r in rows], columns=list(spec.columns))
    con.execute("begin transaction")
    try:
        con.execute(f"delete from raw_stripe.{table}")
        if rows:
            con.register("snapshot_frame", frame)
            casts = ", ".join(f"cast({c} as {t}) as {c}" for c, t in spec.columns.items())
            con.execute(f"insert into raw_stripe.{table} select {casts} from snapshot_frame")
            con.unregister("snapshot_frame")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(rows)


def version_id(item_id: str, price: str | None, quantity: int | None, observed_at: datetime) -> str:
    """A version's id from its facts only: the same observation always gets the same id."""
    text = f"{item_id}|{price or ''}|{'' if quantity is None else quantity}|{observed_at.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()


def record_item_versions(con: duckdb.DuckDBPyConnection, observed_at: datetime) -> int:
    """Append to ``subscription_item_versions`` every item of the current snapshot whose price
    or quantity differs from its latest recorded version (or that has none), as first seen at
    ``observed_at``. Seeing the same values again adds nothing, so a rerun is a no-op; rows are
    never updated or deleted (a quantity that goes back to an earlier value is a new version)."""
    changed = con.execute(
        """
        with latest as (
            select subscription_item, price, quantity,
                   row_number() over (partition by subscription_item order by observed_at desc, id desc) as rn
            from raw_stripe.subscription_item_versions
        )
        select items.id, items.subscription, items.price, items.quantity
        from raw_stripe.subscription_items as items
        left join latest on latest.subscription_item = items.id and latest.rn = 1
        where latest.subscription_item is null
           or latest.price is distinct from items.price
           or latest.quantity is distinct from items.quantity
        order by items.id
        """
    ).fetchall()
    rows = [
        {
            "id": version_id(item, price, quantity, observed_at), "subscription_item": item,
            "subscription": sub, "price": price, "quantity": quantity, "observed_at": observed_at,
            "raw_json": json.dumps({"price": price, "quantity": quantity}, sort_keys=True),
            "extracted_at": observed_at,
        }
        for item, sub, price, quantity in changed
    ]
    if rows:
        spec = TABLES["subscription_item_versions"]
        frame = pd.DataFrame(rows, columns=list(spec.columns))
        con.register("versions_frame", frame)
        casts = ", ".join(f"cast({c} as {t}) as {c}" for c, t in spec.columns.items())
        # the id guards against a second writer having recorded the same observation
        con.execute(
            f"insert into raw_stripe.subscription_item_versions select {casts} from versions_frame "
            "where id not in (select id from raw_stripe.subscription_item_versions)"
        )
        con.unregister("versions_frame")
    return len(rows)


def _snapshot(
    con: duckdb.DuckDBPyConnection, table: str, objects: Iterable[dict], to_row: Callable[[dict], dict]
) -> int:
    now = datetime.now(UTC).replace(tzinfo=None)
    return _replace(con, table, [_with_raw(to_row(o), o) for o in objects], now)


def extract_customers(client: stripe.StripeClient, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    listing = client.v1.customers.list({"limit": PAGE_SIZE})
    return {"customers": _snapshot(con, "customers", _all(listing), _customer_row)}


def extract_products(client: stripe.StripeClient, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    listing = client.v1.products.list({"limit": PAGE_SIZE})
    return {"products": _snapshot(con, "products", _all(listing), _product_row)}


def extract_prices(client: stripe.StripeClient, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    # Tiers are only included when expanded, as in Stripe.
    prices = list(_all(client.v1.prices.list({"limit": PAGE_SIZE, "expand": ["data.tiers"]})))
    tiers = [_with_raw(t, {}) for p in prices for t in _price_tier_rows(p)]
    metadata = [_with_raw(m, {}) for p in prices for m in _metadata_rows(p, "price")]
    now = datetime.now(UTC).replace(tzinfo=None)
    return {
        "prices": _replace(con, "prices", [_with_raw(_price_row(p), p) for p in prices], now),
        "price_tiers": _replace(con, "price_tiers", tiers, now),
        "price_metadata": _replace(con, "price_metadata", metadata, now),
    }


def extract_coupons(client: stripe.StripeClient, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    listing = client.v1.coupons.list({"limit": PAGE_SIZE})
    return {"coupons": _snapshot(con, "coupons", _all(listing), _coupon_row)}


def extract_invoice_items(client: stripe.StripeClient, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Pending invoice items (prorations waiting for the next invoice)."""
    listing = client.v1.invoice_items.list({"limit": PAGE_SIZE, "pending": True})
    return {"invoice_items": _snapshot(con, "invoice_items", _all(listing), _invoice_item_row)}


def extract_billing_meters(client: stripe.StripeClient, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    listing = client.v1.billing.meters.list({"limit": PAGE_SIZE})
    return {"billing_meters": _snapshot(con, "billing_meters", _all(listing), _meter_row)}


def extract_subscriptions(client: stripe.StripeClient, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    subscriptions = list(
        _all(client.v1.subscriptions.list(
            {"limit": PAGE_SIZE, "status": "all", "expand": ["data.discounts"]}
        ))
    )
    items: list[dict] = []
    metadata = [_with_raw(m, {}) for s in subscriptions for m in _metadata_rows(s, "subscription")]
    discounts = [
        _with_raw(_discount_row(d, s["id"]), d)
        for s in subscriptions
        for d in s.get("discounts") or []
        if isinstance(d, dict)
    ]
    for sub in subscriptions:
        embedded = sub.get("items") or {}
        sub_items = embedded.get("data") or []
        if embedded.get("has_more"):
            sub_items = list(
                _all(client.v1.subscription_items.list({"subscription": sub["id"], "limit": PAGE_SIZE}))
            )
        items.extend(_with_raw(_subscription_item_row(i, sub["id"]), i) for i in sub_items)
    now = datetime.now(UTC).replace(tzinfo=None)
    counts = {
        "subscriptions": _replace(
            con, "subscriptions", [_with_raw(_subscription_row(s), s) for s in subscriptions], now
        ),
        "subscription_items": _replace(con, "subscription_items", items, now),
        "subscription_metadata": _replace(con, "subscription_metadata", metadata, now),
        "subscription_discounts": _replace(con, "subscription_discounts", discounts, now),
    }
    # After the snapshot is committed: a crash in between leaves the new values unrecorded, and
    # the next extraction records them (seen a run later, never lost).
    counts["subscription_item_versions"] = record_item_versions(con, now)
    return counts


def extract_invoices(client: stripe.StripeClient, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    invoices = list(_all(client.v1.invoices.list({"limit": PAGE_SIZE})))
    lines: list[dict] = []
    for inv in invoices:
        embedded = inv.get("lines") or {}
        inv_lines = embedded.get("data") or []
        if embedded.get("has_more"):
            inv_lines = list(_all(client.v1.invoices.line_items.list(inv["id"], {"limit": PAGE_SIZE})))
        lines.extend(_with_raw(_invoice_line_row(line, inv["id"]), line) for line in inv_lines)
    now = datetime.now(UTC).replace(tzinfo=None)
    return {
        "invoices": _replace(con, "invoices", [_with_raw(_invoice_row(i), i) for i in invoices], now),
        "invoice_lines": _replace(con, "invoice_lines", lines, now),
    }


Extractor = Callable[[stripe.StripeClient, duckdb.DuckDBPyConnection], dict[str, int]]

# extraction -> (function, the raw_stripe tables it replaces)
EXTRACTORS: dict[str, tuple[Extractor, tuple[str, ...]]] = {
    "customers": (extract_customers, ("customers",)),
    "products": (extract_products, ("products",)),
    "prices": (extract_prices, ("prices", "price_tiers", "price_metadata")),
    "billing_meters": (extract_billing_meters, ("billing_meters",)),
    "subscriptions": (
        extract_subscriptions,
        ("subscriptions", "subscription_items", "subscription_metadata", "subscription_discounts"),
    ),
    "invoices": (extract_invoices, ("invoices", "invoice_lines")),
    "coupons": (extract_coupons, ("coupons",)),
    "invoice_items": (extract_invoice_items, ("invoice_items",)),
}
