"""Credit burn-down: which grant pays for which accrued usage, in integer minor units.

The rule (issue 5, and Stripe's billing credits): a grant is usable from ``effective_at``
(inclusive) until ``expires_at`` (exclusive), only for usage in its currency and on the meters
its applicability names (none named: every metered price), and never for a day before the
grant was created (so the balance is never negative on any day). Usage consumes the usable grants in
order of ``priority`` (0 first, 100 last, Stripe's default 50), then earliest ``expires_at``
(never-expiring last), then oldest (``created_at``), then ``grant_id`` so the order is total.
A grant never gives more than its amount, so a customer's credit can never go negative.

Computed grant by grant: the first grant in that order takes, earliest usage first, everything
it can reach until it is used up; the next grant takes from what is left, and so on. This is the
same allocation as replaying usage day by day and always drawing from the first usable grant
with a balance (the first grant takes every unit it can reach in both procedures; remove its
take and the rest is the same problem with one grant fewer), and it needs no state per day.

Pure functions over plain rows: the reference. The dbt model ``int_ledger__credit_burndown`` is
the same computation in SQL (a recursive CTE over the grants, so it runs on DuckDB and
PostgreSQL alike); ``tests/ledger`` checks that it equals ``burn_down`` and a naive day-by-day
replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

FAR_FUTURE = datetime(9999, 12, 31)


@dataclass(frozen=True)
class Grant:
    grant_id: str
    stripe_customer_id: str
    currency: str
    amount: int  # minor units, > 0
    effective_at: datetime
    expires_at: datetime | None
    priority: int
    created_at: datetime
    meters: frozenset[str] | None  # None: every metered price

    def order_key(self) -> tuple:
        return (self.priority, self.expires_at or FAR_FUTURE, self.created_at, self.grant_id)

    def usable_for(self, usage: Usage) -> bool:
        at = datetime.combine(usage.usage_date, datetime.min.time())
        return (
            usage.stripe_customer_id == self.stripe_customer_id
            and usage.currency == self.currency
            and self.effective_at <= at
            # never before the grant existed: a day already past is not paid for afterwards
            # (a backdated effective_at takes effect from the day the grant was created)
            and self.created_at.date() <= usage.usage_date
            and (self.expires_at is None or at < self.expires_at)
            and (self.meters is None or usage.meter_event_name in self.meters)
        )


@dataclass(frozen=True)
class Usage:
    accrual_key: str  # the usage accrual transaction this draws on
    stripe_customer_id: str
    currency: str
    meter_event_name: str
    usage_date: date  # a day's usage is usable against grants effective at its 00:00 UTC
    amount: int  # minor units; only positive amounts draw credit

    def order_key(self) -> tuple:
        return (self.usage_date, self.meter_event_name, self.accrual_key)


@dataclass(frozen=True)
class Burn:
    grant_id: str
    accrual_key: str
    stripe_customer_id: str
    currency: str
    usage_date: date
    amount: int


def burn_down(grants: Iterable[Grant], usage: Iterable[Usage]) -> list[Burn]:
    by_key = {u.accrual_key: u for u in usage if u.amount > 0}
    remaining_usage = {k: u.amount for k, u in by_key.items()}
    ordered_usage = sorted(by_key.values(), key=Usage.order_key)
    burns: list[Burn] = []
    for grant in sorted(grants, key=Grant.order_key):
        balance = grant.amount
        for u in ordered_usage:
            if balance <= 0:
                break
            left = remaining_usage[u.accrual_key]
            if left <= 0 or not grant.usable_for(u):
                continue
            take = min(balance, left)
            remaining_usage[u.accrual_key] = left - take
            balance -= take
            burns.append(
                Burn(grant.grant_id, u.accrual_key, u.stripe_customer_id, u.currency, u.usage_date, take)
            )
    return burns


def _as_datetime(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, datetime.min.time())


def burn_down_rows(grant_rows: Iterable[tuple], usage_rows: Iterable[tuple], as_of: date) -> list[Burn]:
    """The burn-down as of a day, from warehouse rows (what int_ledger__credit_burndown computes).

    grant_rows: (grant_id, stripe_customer_id, currency, amount, effective_at, expires_at,
    priority, created_at, applicable_meters as 'a,b' or None); usage_rows: (accrual_key,
    stripe_customer_id, currency, meter_event_name, usage_date, accrued_amount). Grants created
    after the as-of day and usage after it take no part.
    """
    grants = []
    for g in grant_rows:
        created = _as_datetime(g[7])
        if g[1] is None or created is None or created.date() > as_of:
            continue
        meters = None if g[8] is None else frozenset(m.strip() for m in g[8].split(",") if m.strip())
        grants.append(Grant(g[0], g[1], g[2], int(g[3]), _as_datetime(g[4]), _as_datetime(g[5]), int(g[6]), created, meters))
    usage = [Usage(u[0], u[1], u[2], u[3], u[4], int(u[5])) for u in usage_rows if u[4] <= as_of]
    return burn_down(grants, usage)
