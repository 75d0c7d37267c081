"""Credit burn-down, worked by hand: each example pins one rule of the order or of eligibility.

The property tests compare the ledger with a replay that shares the production ordering; these
examples state the expected burns literally, so a wrong order or eligibility rule fails here.
"""

from datetime import date, datetime

from dagster_project.ledger.credits import Burn, Grant, Usage, burn_down

CUS = "cus_1"
CREATED = datetime(2026, 10, 1)


def grant(grant_id, amount, *, priority=50, expires=None, created=CREATED, effective=None, meters=None,
          currency="usd"):
    return Grant(grant_id, CUS, currency, amount, effective or created, expires, priority, created,
                 None if meters is None else frozenset(meters))


def usage(key, day, amount, meter="api_requests", currency="usd"):
    return Usage(key, CUS, currency, meter, day, amount)


def burns(grants, usages):
    return [(b.grant_id, b.accrual_key, b.amount) for b in burn_down(grants, usages)]


def test_lower_priority_number_burns_first():
    # 150 of usage: priority 10 gives all its 100, then priority 50 gives 50 of its 100.
    result = burns([grant("p50", 100, priority=50), grant("p10", 100, priority=10)],
                   [usage("u1", date(2026, 11, 2), 150)])
    assert result == [("p10", "u1", 100), ("p50", "u1", 50)]


def test_same_priority_earliest_expiry_first_and_never_expiring_last():
    grants = [
        grant("forever", 100),
        grant("late", 100, expires=datetime(2027, 1, 1)),
        grant("soon", 30, expires=datetime(2026, 12, 15)),
    ]
    # 180: soon 30, late 100, forever 50.
    assert burns(grants, [usage("u1", date(2026, 11, 2), 180)]) == [
        ("soon", "u1", 30), ("late", "u1", 100), ("forever", "u1", 50),
    ]


def test_same_priority_and_expiry_oldest_first():
    grants = [grant("newer", 100, created=datetime(2026, 10, 20)), grant("older", 100, created=datetime(2026, 10, 5))]
    assert burns(grants, [usage("u1", date(2026, 11, 2), 120)]) == [("older", "u1", 100), ("newer", "u1", 20)]


def test_a_grant_pays_earliest_usage_first_and_never_more_than_its_amount():
    usages = [usage("u3", date(2026, 11, 3), 40), usage("u1", date(2026, 11, 1), 40), usage("u2", date(2026, 11, 2), 40)]
    result = burn_down([grant("g", 100)], usages)
    assert [(b.accrual_key, b.amount) for b in result] == [("u1", 40), ("u2", 40), ("u3", 20)]
    assert sum(b.amount for b in result) == 100  # the rest (20 of u3) is overage, never negative credit


def test_meter_applicability_and_currency():
    grants = [grant("tokens_only", 100, meters={"llm_tokens"}), grant("yen", 1000, currency="jpy")]
    usages = [usage("api", date(2026, 11, 2), 50, meter="api_requests"),
              usage("tok", date(2026, 11, 2), 30, meter="llm_tokens")]
    # The token grant pays only token usage; a JPY grant pays no USD usage.
    assert burns(grants, usages) == [("tokens_only", "tok", 30)]


def test_effective_from_inclusive_until_expiry_exclusive():
    g = grant("window", 1000, effective=datetime(2026, 11, 5), expires=datetime(2026, 11, 10))
    usages = [usage(f"d{d}", date(2026, 11, d), 10) for d in (4, 5, 9, 10)]
    assert burns([g], usages) == [("window", "d5", 10), ("window", "d9", 10)]


def test_a_backdated_grant_pays_nothing_before_the_day_it_was_created():
    g = grant("backdated", 1000, effective=datetime(2026, 11, 1), created=datetime(2026, 11, 20, 15))
    usages = [usage("before", date(2026, 11, 10), 10), usage("same_day", date(2026, 11, 20), 10)]
    assert burns([g], usages) == [("backdated", "same_day", 10)]


def test_negative_or_zero_usage_draws_nothing():
    assert burn_down([grant("g", 100)], [usage("refund", date(2026, 11, 2), -40), usage("zero", date(2026, 11, 2), 0)]) == []
    assert burn_down([grant("g", 100)], [usage("u", date(2026, 11, 2), 5)]) == [
        Burn("g", "u", CUS, "usd", date(2026, 11, 2), 5)
    ]
