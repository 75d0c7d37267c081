"""A seat-count or price change today does not re-price past periods (issue 5).

One customer with a licensed seat price (10.00 USD a seat, monthly) since 2026-09-01. The item's
history (raw_stripe.subscription_item_versions) begins on 2026-10-15 with 3 seats; a paid
invoice billed October's period at 2 seats (2000). The ledger is built as of 2026-11-10, then:
the seats go to 5 on 2026-11-15 12:00 (with Stripe's prorations pending), the price to 15.00 on
2026-11-20, and the item rolls into December. Hand-checked fees: September 3000 (the earliest
known version: 3 x 1000), October 2000 (Stripe's invoice line), November 3000 (in force at its
start), December 7500 (5 x 1500).
"""

from datetime import date, datetime

import pytest

from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema, record_item_versions
from dagster_project.ledger.finance_inputs import ensure_raw_finance_schema
from dagster_project.warehouse import connect, ensure_raw_schema
from tests.conftest import run_dbt

SELECT = ["--select", "+fct_ledger_entries", "+int_finance__monthly_mrr", "dim_ledger_accounts"]


def _seed_stripe(con) -> None:
    con.execute("insert into raw_stripe.customers (id, metadata_customer_id) values ('cus_H', 'acct_h')")
    con.execute("insert into raw_stripe.products (id, name, active) values ('prod_seats', 'Seats', true)")
    con.execute(
        "insert into raw_stripe.prices (id, product, currency, unit_amount_decimal, billing_scheme, price_type, "
        "recurring_interval, recurring_interval_count, recurring_usage_type, active) values "
        "('price_seats', 'prod_seats', 'usd', '1000', 'per_unit', 'recurring', 'month', 1, 'licensed', true), "
        "('price_seats_v2', 'prod_seats', 'usd', '1500', 'per_unit', 'recurring', 'month', 1, 'licensed', true)"
    )
    con.execute(
        "insert into raw_stripe.subscriptions (id, customer, status, currency, created) "
        "values ('sub_H', 'cus_H', 'active', 'usd', timestamp '2026-09-02 09:00:00')"
    )
    con.execute(
        "insert into raw_stripe.subscription_items (id, subscription, price, quantity, current_period_start, "
        "current_period_end, created) values ('si_H', 'sub_H', 'price_seats', 3, timestamp '2026-11-01 00:00:00', "
        "timestamp '2026-12-01 00:00:00', timestamp '2026-09-02 09:00:00')"
    )
    # Stripe's record of October: a paid invoice whose (non-proration) seat line says 2 seats
    con.execute(
        "insert into raw_stripe.invoices (id, customer, subscription, status, currency, period_start, period_end, "
        "subtotal, total, amount_due, created) values ('in_oct', 'cus_H', 'sub_H', 'paid', 'usd', "
        "timestamp '2026-09-01 00:00:00', timestamp '2026-10-01 00:00:00', 2000, 2000, 2000, "
        "timestamp '2026-10-01 01:00:00')"
    )
    con.execute(
        "insert into raw_stripe.invoice_lines (id, invoice, amount, currency, quantity, price, period_start, "
        "period_end, description, subscription_item, proration) values ('il_oct', 'in_oct', 2000, 'usd', 2, "
        "'price_seats', timestamp '2026-10-01 00:00:00', timestamp '2026-11-01 00:00:00', '2 x Seats', 'si_H', false)"
    )


def _ledger(home, types=("licensed_fee", "revenue_recognition")):
    with connect(home.warehouse_path, read_only=True) as con:
        return con.execute(
            "select entry_id, transaction_type, transaction_key, entry_type, account, amount, effective_date "
            "from marts.fct_ledger_entries where transaction_type in (select unnest(?)) order by entry_id",
            [list(types)],
        ).fetchall()


def _fees(home) -> dict[date, int]:
    """licensed_fee per period start: the net receivable posted (all versions)."""
    with connect(home.warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select effective_date, sum(amount) from marts.fct_ledger_entries "
            "where transaction_type = 'licensed_fee' and account = 'unbilled_receivable' group by 1 order by 1"
        ).fetchall()
    return {d: int(a) for d, a in rows}


def _recognized(home) -> dict[date, int]:
    """subscription revenue recognized per month (net)."""
    with connect(home.warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select date_trunc('month', effective_date), -sum(amount) from marts.fct_ledger_entries "
            "where transaction_type = 'revenue_recognition' and account = 'subscription_revenue' group by 1 order by 1"
        ).fetchall()
    return {d.date() if isinstance(d, datetime) else d: int(a) for d, a in rows}


def _licensed_mrr(home) -> dict[date, int]:
    with connect(home.warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select mrr_month, licensed_mrr from intermediate.int_finance__monthly_mrr "
            "where stripe_customer_id = 'cus_H' order by 1"
        ).fetchall()
    return {m: int(v) for m, v in rows}


def _new_entries(before, after):
    seen = {r[0] for r in before}
    return [r for r in after if r[0] not in seen]


@pytest.fixture
def built(home):
    with connect(home.warehouse_path) as con:
        ensure_raw_schema(con)
        ensure_raw_stripe_schema(con)
        ensure_raw_finance_schema(con)
        _seed_stripe(con)
        # the extraction first saw the item on 2026-10-15 (history begins after September)
        assert record_item_versions(con, datetime(2026, 10, 15, 6, 0)) == 1
        assert record_item_versions(con, datetime(2026, 10, 16, 6, 0)) == 0  # same values: nothing
    run_dbt("seed")
    run_dbt("run", *SELECT, run_date="2026-11-10")
    return home


def test_past_periods_keep_their_fees_when_seats_and_price_change(built):
    home = built
    first = _ledger(home)
    assert _fees(home) == {date(2026, 9, 1): 3000, date(2026, 10, 1): 2000, date(2026, 11, 1): 3000}
    # September 3000 over 30 days, October 2000 over 31, November 100 a day through the 10th
    assert _recognized(home) == {date(2026, 9, 1): 3000, date(2026, 10, 1): 2000, date(2026, 11, 1): 1000}
    assert _licensed_mrr(home) == {date(2026, 9, 1): 3000, date(2026, 10, 1): 3000, date(2026, 11, 1): 3000}

    # 2026-11-15 12:00: 3 -> 5 seats. Stripe prorates the remaining 15.5 of 30 days (pending
    # invoice items): credit 3 x 1000 x 0.516667 = -1550, debit 5 x 1000 x 0.516667 = 2583.
    with connect(home.warehouse_path) as con:
        con.execute("update raw_stripe.subscription_items set quantity = 5")
        con.execute(
            "insert into raw_stripe.invoice_items (id, customer, subscription, subscription_item, invoice, amount, "
            "currency, price, quantity, period_start, period_end, proration, discountable, description, date) values "
            "('ii_credit', 'cus_H', 'sub_H', 'si_H', null, -1550, 'usd', 'price_seats', 3, "
            "timestamp '2026-11-15 12:00:00', timestamp '2026-12-01 00:00:00', true, false, 'Unused time', "
            "timestamp '2026-11-15 12:00:00'), "
            "('ii_debit', 'cus_H', 'sub_H', 'si_H', null, 2583, 'usd', 'price_seats', 5, "
            "timestamp '2026-11-15 12:00:00', timestamp '2026-12-01 00:00:00', true, false, 'Remaining time', "
            "timestamp '2026-11-15 12:00:00')"
        )
        assert record_item_versions(con, datetime(2026, 11, 15, 12, 5)) == 1
    run_dbt("run", *SELECT, run_date="2026-11-16")
    second = _ledger(home)
    added = _new_entries(first, second)
    # no licensed fee is re-posted, and recognition only adds the new days at November's fee
    assert [r for r in added if r[1] == "licensed_fee"] == []
    assert {r[3] for r in added} == {"original"}
    assert sorted({r[6] for r in added}) == [date(2026, 11, d) for d in range(11, 17)]
    assert _fees(home) == {date(2026, 9, 1): 3000, date(2026, 10, 1): 2000, date(2026, 11, 1): 3000}
    assert _recognized(home)[date(2026, 11, 1)] == 1600
    # the change reaches the current period only as Stripe bills it: the two prorations
    with connect(home.warehouse_path, read_only=True) as con:
        prorations = con.execute(
            "select sum(amount) from marts.fct_ledger_entries where transaction_type = 'invoice_adjustment' "
            "and account = 'unbilled_receivable'"
        ).fetchone()[0]
    assert prorations == 2583 - 1550
    with connect(home.warehouse_path, read_only=True) as con:
        sources = con.execute(
            "select cast(period_start as date), quantity_source, price_id, quantity from "
            "intermediate.int_ledger__item_periods order by 1"
        ).fetchall()
    # October from its invoice line; November's start from Stripe's proration credit (3 seats)
    assert sources == [
        (date(2026, 9, 1), "item_version", "price_seats", 3),
        (date(2026, 10, 1), "invoice_line", "price_seats", 2),
        (date(2026, 11, 1), "proration_credit", "price_seats", 3),
    ]
    # MRR: the past months keep 3 seats; November is measured at the as-of day: 5 seats
    assert _licensed_mrr(home) == {date(2026, 9, 1): 3000, date(2026, 10, 1): 3000, date(2026, 11, 1): 5000}

    # a rerun of the day posts nothing
    run_dbt("run", *SELECT, run_date="2026-11-16")
    assert _ledger(home) == second

    # 2026-11-20: the price goes to 15.00 a seat (swapped in place on the item)
    with connect(home.warehouse_path) as con:
        con.execute("update raw_stripe.subscription_items set price = 'price_seats_v2'")
        assert record_item_versions(con, datetime(2026, 11, 20, 9, 0)) == 1
    run_dbt("run", *SELECT, run_date="2026-11-21")
    third = _ledger(home)
    added = _new_entries(second, third)
    assert [r for r in added if r[1] == "licensed_fee"] == []
    assert {r[3] for r in added} == {"original"}
    assert _fees(home) == {date(2026, 9, 1): 3000, date(2026, 10, 1): 2000, date(2026, 11, 1): 3000}
    assert _licensed_mrr(home) == {date(2026, 9, 1): 3000, date(2026, 10, 1): 3000, date(2026, 11, 1): 7500}

    # the item rolls into December: December is billed at 5 x 1500; no earlier period moves
    with connect(home.warehouse_path) as con:
        con.execute("delete from raw_stripe.invoice_items")  # now on December's invoice
        con.execute(
            "update raw_stripe.subscription_items set current_period_start = timestamp '2026-12-01 00:00:00', "
            "current_period_end = timestamp '2027-01-01 00:00:00'"
        )
        assert record_item_versions(con, datetime(2026, 12, 1, 3, 0)) == 0  # same price and seats
    run_dbt("run", *SELECT, run_date="2026-12-02")
    fourth = _ledger(home)
    added = _new_entries(third, fourth)
    assert {r[3] for r in added} == {"original"}
    assert _fees(home) == {
        date(2026, 9, 1): 3000, date(2026, 10, 1): 2000, date(2026, 11, 1): 3000, date(2026, 12, 1): 7500,
    }
    assert _recognized(home) == {
        date(2026, 9, 1): 3000, date(2026, 10, 1): 2000, date(2026, 11, 1): 3000, date(2026, 12, 1): 2 * 242,
    }
    assert _licensed_mrr(home)[date(2026, 10, 1)] == 3000
    # and the ledger still equals what the sources say, balanced, ids consistent
    run_dbt("test", "--select", "fct_ledger_entries", "int_ledger__desired_lines", "int_ledger__item_versions",
            "--indirect-selection", "cautious", run_date="2026-12-02")


def test_without_history_the_current_item_stands_for_every_period(home):
    """No recorded versions (items loaded without the extraction): the snapshot is the only
    version, as before; a change then moves the periods not yet invoiced (and only those)."""
    with connect(home.warehouse_path) as con:
        ensure_raw_schema(con)
        ensure_raw_stripe_schema(con)
        ensure_raw_finance_schema(con)
        _seed_stripe(con)
    run_dbt("seed")
    run_dbt("run", *SELECT, run_date="2026-11-10")
    assert _fees(home) == {date(2026, 9, 1): 3000, date(2026, 10, 1): 2000, date(2026, 11, 1): 3000}
    with connect(home.warehouse_path) as con:
        con.execute("update raw_stripe.subscription_items set quantity = 4")
    run_dbt("run", *SELECT, run_date="2026-11-11")
    # October stays frozen at Stripe's invoice line; the others follow the only version known
    assert _fees(home) == {date(2026, 9, 1): 4000, date(2026, 10, 1): 2000, date(2026, 11, 1): 4000}
