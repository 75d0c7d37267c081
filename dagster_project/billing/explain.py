"""`tollgate explain`: an invoice preview line by line, each with how it was computed.

Everything printed is read from the warehouse (marts.fct_invoice_preview and the models under
it); nothing is recomputed here except the display of a proration factor as a decimal.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb


def money(amount: int | None, currency: str, exponent: int) -> str:
    """Minor units as the currency's major unit: 123456 usd -> 'USD 1,234.56', 402 jpy -> 'JPY 402'."""
    if amount is None:
        return ""
    value = Decimal(amount).scaleb(-exponent)
    return f"{currency.upper()} {value:,.{exponent}f}"


def num(value) -> str:
    if value is None:
        return "-"
    d = Decimal(value)
    d = d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()
    return f"{d:,f}"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def explain(con: duckdb.DuckDBPyConnection, customer: str, period: str) -> str:
    lines = _rows(
        con,
        """
        select * from marts.fct_invoice_preview
        where (customer_id = ? or stripe_customer_id = ?)
          and strftime(invoice_period_start, '%Y-%m') = ?
        order by invoice_period_end, subscription_id, line_number
        """,
        [customer, customer, period],
    )
    if not lines:
        return f"No invoice preview for customer {customer!r} with a period starting in {period}."
    rated = {r["rated_line_id"]: r for r in _rows(con, "select * from marts.fct_rated_usage", [])}
    tiers: dict[str, list[dict]] = {}
    for t in _rows(con, "select * from intermediate.int_billing__tier_charges order by tier_index", []):
        tiers.setdefault(t["rated_line_id"], []).append(t)
    prorations = {
        p["invoice_item_id"]: p
        for p in _rows(con, "select * from intermediate.int_billing__prorations", [])
    }
    discounts = {
        d["discount_id"]: d
        for d in _rows(con, "select * from intermediate.int_billing__invoice_discounts", [])
    }
    out: list[str] = []
    current = None
    for line in lines:
        cur, exp = line["currency"], line["currency_exponent"]
        if line["invoice_key"] != current:
            current = line["invoice_key"]
            out += [
                "",
                f"Invoice preview {line['subscription_id']} for {line['customer_id']} "
                f"({line['stripe_customer_id']}), {cur.upper()}",
                f"  period {line['invoice_period_start']} .. {line['invoice_period_end']} UTC "
                f"(invoiced at its end)",
            ]
        qty = "" if line["quantity"] is None else f"{num(line['quantity'])} x "
        out.append(
            f"  {line['line_number']:>2}. {line['line_type']:<18} {qty}{line['description']:<34} "
            f"{money(line['amount'], cur, exp):>16}"
        )
        out += [f"        {w}" for w in _how(line, rated, tiers, prorations, discounts)]
        is_last = line is lines[-1] or lines[lines.index(line) + 1]["invoice_key"] != current
        if is_last:
            out += [
                f"      subtotal {money(line['invoice_subtotal'], cur, exp)}, discount "
                f"{money(line['invoice_discount'], cur, exp)}, total "
                f"{money(line['invoice_total'], cur, exp)}",
            ]
    return "\n".join(out).lstrip("\n")


def _how(line, rated, tiers, prorations, discounts) -> list[str]:
    kind = line["line_type"]
    if kind in ("metered", "licensed"):
        r = rated[line["source_id"]]
        out = []
        if kind == "metered":
            out.append(
                f"usage {r['line_period_start']} .. {r['line_period_end']}: {num(r['quantity'])} "
                f"whole units pushed to Stripe on {r['usage_days']} day(s) "
                f"({r['first_usage_date']} .. {r['last_usage_date']}); exact usage "
                f"{num(r['usage_quantity_exact'])} from {num(r['event_count'])} events"
            )
        else:
            out.append(
                f"{num(r['quantity'])} licensed unit(s) for {r['line_period_start']} .. "
                f"{r['line_period_end']}, billed in advance"
            )
        if r["billing_scheme"] == "tiered":
            out.append(f"{r['tiers_mode']} tiers (up_to inclusive):")
            for t in tiers.get(r["rated_line_id"], []):
                upper = "inf" if t["up_to"] is None else num(t["up_to"])
                out.append(
                    f"  tier {t['tier_index']} ({num(t['lower_bound'] + 1)}-{upper}): "
                    f"{num(t['units_in_tier'])} x {num(t['unit_amount_decimal'])} + flat "
                    f"{num(t['flat_amount_decimal'])} = {num(t['tier_amount_exact'])}"
                )
            if not tiers.get(r["rated_line_id"]):
                out.append("  no tier reached (zero quantity)")
        elif r["transform_divide_by"]:
            out.append(
                f"packages: {num(r['quantity'])} / {r['transform_divide_by']} rounded "
                f"{r['transform_round']} = {num(r['billed_quantity'])}; x "
                f"{num(r['unit_amount_decimal'])} = {num(r['amount_exact'])}"
            )
        else:
            out.append(
                f"per unit: {num(r['billed_quantity'])} x {num(r['unit_amount_decimal'])} = "
                f"{num(r['amount_exact'])}"
            )
        out.append(
            f"exact {num(r['amount_exact'])} minor units -> {num(r['amount'])} "
            "(rounded once, half up)"
        )
        return out
    if kind == "proration":
        p = prorations[line["source_id"]]
        factor = Decimal(p["seconds_remaining"]) / Decimal(p["period_seconds"])
        credit = p["stripe_amount"] < 0 or (p["description"] or "").startswith("Unused time")
        side = "credit for unused time" if credit else "debit for remaining time"
        if not p["is_recomputed"]:
            return [f"{side}: Stripe's amount (tiered price, not recomputed)"]
        return [
            f"{side} after {p['change_at']} on price {p['price_id']}",
            f"{num(p['quantity'])} x {num(p['unit_amount_decimal'])} x {p['seconds_remaining']:,} s "
            f"/ {p['period_seconds']:,} s (factor {factor:.6f}) -> {num(abs(p['amount']))} "
            f"(rounded once, half up; Stripe's item says {num(p['stripe_amount'])})",
        ]
    if kind == "discount":
        d = discounts[line["source_id"]]
        rule = {
            "forever": "forever",
            "once": f"once (redeemed {d['starts_at']}, this period)",
            "repeating": f"repeating {d['duration_in_months']} months, until {d['ends_at']}",
        }[d["duration"]]
        if d["percent_off"] is not None:
            return [
                f"coupon {d['coupon_id']}: {num(d['percent_off'])} % of what earlier coupons left "
                f"of the discountable subtotal (metered + licensed lines), rounded once, half up; "
                f"{rule}"
            ]
        return [
            f"coupon {d['coupon_id']}: {num(d['amount_off'])} off, at most what earlier coupons "
            f"left of the discountable subtotal; {rule}"
        ]
    if kind == "commitment_true_up":
        return [
            "minimum commitment (subscription metadata tollgate_minimum_commitment) minus this "
            "period's metered amounts; not discountable; added by Tollgate (Stripe has no such line)"
        ]
    return []
