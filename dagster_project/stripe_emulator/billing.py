"""How the emulator prices a quantity and builds an invoice: pure functions, exact decimals.

This is the emulator's own code path, written from Stripe's documentation and kept independent
of the warehouse's SQL (dbt/models/marts/billing), so that comparing the two is a real check.
It is also the Python reference implementation the property tests exercise.

What it follows (Stripe docs, as read for issue 4):

* Per-unit prices: ``quantity x unit_amount_decimal`` (minor units, up to 12 decimal places).
  ``transform_quantity`` divides the quantity by ``divide_by`` and rounds the result ``up`` or
  ``down`` to a whole number of packages *before* the price applies; it is not allowed with tiers.
* Tiers: ``up_to`` is inclusive ("up to and including"); a tier's lower bound is the previous
  tier's ``up_to`` plus one; the last tier has ``up_to = inf``.
  - graduated: each tier charges its units at its own ``unit_amount`` and adds its
    ``flat_amount`` when at least one unit falls in it ("price for the entire tier");
  - volume: the tier that contains the whole quantity prices every unit, plus its flat amount.
  A quantity of zero enters no tier and costs nothing (UNCONFIRMED for a first tier with a flat
  amount: the docs do not say; the warehouse follows the same reading).
* Rounding: "Rounding occurs on the line item level of your invoices ... 0.05 * 30 = 1.5, which
  is then rounded up to 2 cents. If you have multiple line items, each will be rounded before
  summing up" (Stripe, decimal amounts). So the exact amount of a line is rounded once, to the
  currency's minor unit, half up (half away from zero for a credit: a credit is the negated
  amount of the same computation). Tier amounts inside a line stay exact.
* Prorations (licensed items only): "down to the second": amount x (seconds left in the period
  after the change) / (seconds in the period); one credit line for the old price, one debit line
  for the new, each rounded on its own; prorations are never discountable.
* Discounts: ``percent_off`` coupons, then ``amount_off`` ones, each on what the earlier ones
  left of the discountable subtotal (never below 0): see ``discount_amounts``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

ZERO = Decimal(0)


@dataclass(frozen=True)
class Tier:
    up_to: int | None  # inclusive upper bound; None = inf
    unit_amount: Decimal = ZERO  # minor units per unit, exact
    flat_amount: Decimal = ZERO  # minor units for the tier as a whole


@dataclass(frozen=True)
class TierCharge:
    index: int  # 1-based
    lower: int  # exclusive lower bound: units above this fall in the tier
    up_to: int | None
    units: Decimal
    unit_amount: Decimal
    flat_amount: Decimal

    @property
    def amount(self) -> Decimal:
        return self.units * self.unit_amount + self.flat_amount


@dataclass(frozen=True)
class Rating:
    quantity: Decimal  # the quantity the price applies to (after transform_quantity)
    amount_exact: Decimal
    tiers: tuple[TierCharge, ...] = ()

    @property
    def amount(self) -> int:
        return round_half_up(self.amount_exact)


def round_half_up(amount: Decimal) -> int:
    """Minor units, rounded once, half away from zero (so a credit mirrors its debit)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tiers_from_price(price: dict[str, Any]) -> list[Tier]:
    out = []
    for t in price.get("tiers") or []:
        unit = t.get("unit_amount_decimal")
        flat = t.get("flat_amount_decimal")
        out.append(
            Tier(
                up_to=t.get("up_to"),
                unit_amount=Decimal(str(unit)) if unit is not None else ZERO,
                flat_amount=Decimal(str(flat)) if flat is not None else ZERO,
            )
        )
    return out


def graduated(quantity: Decimal, tiers: Sequence[Tier]) -> Rating:
    charges = []
    lower = 0
    for i, tier in enumerate(tiers, start=1):
        if quantity > lower:
            top = quantity if tier.up_to is None else min(quantity, Decimal(tier.up_to))
            charges.append(
                TierCharge(i, lower, tier.up_to, top - lower, tier.unit_amount, tier.flat_amount)
            )
        if tier.up_to is None:
            break
        lower = tier.up_to
    return Rating(quantity, sum((c.amount for c in charges), ZERO), tuple(charges))


def volume(quantity: Decimal, tiers: Sequence[Tier]) -> Rating:
    if quantity <= 0:
        return Rating(quantity, ZERO, ())
    lower = 0
    for i, tier in enumerate(tiers, start=1):
        if tier.up_to is None or quantity <= tier.up_to:
            charge = TierCharge(i, lower, tier.up_to, quantity, tier.unit_amount, tier.flat_amount)
            return Rating(quantity, charge.amount, (charge,))
        lower = tier.up_to
    raise ValueError("tiers must end with up_to = inf")


def transform(quantity: Decimal, divide_by: int, rounding: str) -> Decimal:
    packages = quantity / Decimal(divide_by)
    return packages.to_integral_value(rounding=ROUND_CEILING if rounding == "up" else ROUND_FLOOR)


def rate(price: dict[str, Any], quantity: Decimal) -> Rating:
    """The exact charge of ``price`` for ``quantity`` units, with its tier breakdown."""
    if price["billing_scheme"] == "tiered":
        tiers = tiers_from_price(price)
        return (graduated if price["tiers_mode"] == "graduated" else volume)(quantity, tiers)
    unit = Decimal(str(price["unit_amount_decimal"]))
    t = price.get("transform_quantity")
    if t:
        quantity = transform(quantity, int(t["divide_by"]), t["round"])
    return Rating(quantity, quantity * unit)


def proration_amount(full_amount: Decimal, remaining_seconds: int, period_seconds: int) -> int:
    """``full_amount`` for the share of the period left, exactly, then rounded once."""
    return round_half_up(full_amount * Decimal(remaining_seconds) / Decimal(period_seconds))


@dataclass(frozen=True)
class Coupon:
    id: str
    percent_off: Decimal | None
    amount_off: int | None


def discount_amounts(discountable_subtotal: int, coupons: Iterable[Coupon]) -> list[tuple[str, int]]:
    """(coupon id, amount taken off) for each coupon, one after another: percentages first, then
    fixed amounts, each on what the earlier coupons left of the discountable subtotal (a
    percentage rounded once, half up); the total never exceeds the subtotal, and nothing is
    taken off a subtotal at or below zero. So 20 % then 5 % off 3500 takes 700 then 140 (5 % of
    2800), not 700 + 175. Stripe's docs do not spell stacking out; this is what its upcoming
    invoice computes as reported by integrations checked against it (bitwarden/server#7786:
    20 % + 5 % on $35 -> $35 x 0.95 x 0.80 = $26.60; useautumn/autumn#535: percent-off before
    amount-off, percentages on the running amount, floored at zero)."""
    remaining = max(discountable_subtotal, 0)
    ordered = sorted(coupons, key=lambda c: c.percent_off is None)
    out = []
    for c in ordered:
        if c.percent_off is not None:
            amount = round_half_up(Decimal(remaining) * c.percent_off / Decimal(100))
        else:
            amount = int(c.amount_off or 0)
        amount = max(0, min(amount, remaining))
        remaining -= amount
        out.append((c.id, amount))
    return out
