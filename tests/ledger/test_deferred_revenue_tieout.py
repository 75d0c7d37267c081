"""The deferred revenue tie-out compares the ledger with the billing source, so it can fail.

Built with dbt on a small warehouse (one customer, 3 seats at 10.00 a month), then the ledger
is damaged the ways a bug would damage it (a recognition entry missing, a fee posted twice) and
the source changes without the ledger following: each time the dbt test
assert_deferred_revenue_rolls_forward must fail and rpt_deferred_revenue_tieout must name the
day and the amount; on the intact ledger it passes.
"""

from __future__ import annotations

import re
import subprocess

from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema
from dagster_project.ledger.finance_inputs import ensure_raw_finance_schema
from dagster_project.warehouse import connect, ensure_raw_schema
from tests.conftest import dbt_command, dbt_env, run_dbt

AS_OF = "2026-11-12"  # the run date
MODELS = ["+rpt_deferred_revenue_tieout", "+rpt_revenue_recognition"]


def check(*extra: str) -> bool:
    """Rebuild the schedule, the tie-out and the report, and run their tests (one dbt call):
    True when assert_deferred_revenue_rolls_forward passed."""
    cmd = dbt_command("build", "--select", "int_finance__deferred_revenue_schedule", "rpt_deferred_revenue_tieout",
                      "rpt_revenue_recognition", *extra, "--exclude", "test_type:unit")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dbt_env(AS_OF))
    verdicts = re.findall(r"(PASS|FAIL \d+|ERROR) assert_deferred_revenue_rolls_forward", proc.stdout)
    assert len(verdicts) == 1, proc.stdout[-3000:]
    return verdicts[0] == "PASS"


def differences(home) -> list[tuple]:
    with connect(home.warehouse_path, read_only=True) as con:
        return con.execute(
            "select cast(tieout_date as varchar), expected_closing, ledger_closing, difference "
            "from marts.rpt_deferred_revenue_tieout where difference <> 0 order by tieout_date"
        ).fetchall()


def test_tieout_passes_on_the_ledger_and_fails_when_ledger_and_source_disagree(home):
    with connect(home.warehouse_path) as con:
        ensure_raw_schema(con)
        ensure_raw_stripe_schema(con)
        ensure_raw_finance_schema(con)
        con.execute("insert into raw_stripe.customers (id, metadata_customer_id, livemode) values ('cus_S', 'acct_s', false)")
        con.execute("insert into raw_stripe.products (id, name, active) values ('prod_seats', 'Seats', true)")
        con.execute(
            "insert into raw_stripe.prices (id, product, currency, unit_amount_decimal, billing_scheme, price_type, "
            "recurring_interval, recurring_interval_count, recurring_usage_type, active) values "
            "('price_seats', 'prod_seats', 'usd', '1000', 'per_unit', 'recurring', 'month', 1, 'licensed', true)"
        )
        # Created a day into its first period (backdated to Nov 10): the period holding
        # `created` is its first.
        con.execute("insert into raw_stripe.subscriptions (id, customer, status, currency, created) values "
                    "('sub_S', 'cus_S', 'active', 'usd', timestamp '2026-11-11 00:00:00')")
        # November 10 to December 10: 30 days, 3 x 1000 = 3000 billed on Nov 10, 100 a day
        con.execute("insert into raw_stripe.subscription_items (id, subscription, price, quantity, current_period_start, "
                    "current_period_end, created) values ('si_S', 'sub_S', 'price_seats', 3, "
                    "timestamp '2026-11-10 00:00:00', timestamp '2026-12-10 00:00:00', timestamp '2026-11-11 00:00:00')")
    run_dbt("seed")
    run_dbt("run", "--select", *MODELS, run_date=AS_OF)

    # intact: billed 3000 on Nov 10, 100 recognized on each of Nov 10, 11, 12 -> 2700, no difference
    assert check()
    with connect(home.warehouse_path, read_only=True) as con:
        assert con.execute(
            "select cast(tieout_date as varchar), expected_closing, ledger_closing from marts.rpt_deferred_revenue_tieout "
            "order by tieout_date"
        ).fetchall() == [("2026-11-10", 2900, 2900), ("2026-11-11", 2800, 2800), ("2026-11-12", 2700, 2700)]
        entries = con.execute("select * from marts.fct_ledger_entries").fetchall()
        columns = [d[0] for d in con.description]

    def restore() -> None:
        with connect(home.warehouse_path) as con:
            con.execute("delete from marts.fct_ledger_entries")
            con.executemany(f"insert into marts.fct_ledger_entries ({', '.join(columns)}) values "
                            f"({', '.join('?' for _ in columns)})", entries)

    # 1. a recognition entry missing (both its lines: the ledger still balances)
    with connect(home.warehouse_path) as con:
        con.execute("delete from marts.fct_ledger_entries where transaction_type = 'revenue_recognition' "
                    "and effective_date = date '2026-11-11'")
    assert not check()
    assert differences(home) == [("2026-11-11", 2800, 2900, 100), ("2026-11-12", 2700, 2800, 100)]

    # 2. the licensed fee posted twice (a second journal of the same lines under new ids)
    restore()
    with connect(home.warehouse_path) as con:
        con.execute("insert into marts.fct_ledger_entries select entry_id || '_again', journal_id || '_again', "
                    "* exclude (entry_id, journal_id) from marts.fct_ledger_entries where transaction_type = 'licensed_fee'")
    assert not check()
    assert differences(home) == [("2026-11-10", 2900, 5900, 3000), ("2026-11-11", 2800, 5800, 3000),
                                 ("2026-11-12", 2700, 5700, 3000)]

    # 3. the source changed and the ledger has not followed yet: Stripe finalized the period's
    # invoice at 4 seats (its line is what was billed; a seat change on the item alone would not
    # re-price a period that began before it)
    restore()
    with connect(home.warehouse_path) as con:
        con.execute("insert into raw_stripe.invoices (id, customer, subscription, status, currency, period_start, "
                    "period_end, subtotal, total, amount_due, created) values ('in_S', 'cus_S', 'sub_S', 'paid', "
                    "'usd', timestamp '2026-11-10 00:00:00', timestamp '2026-11-10 00:00:00', 4000, 4000, 4000, "
                    "timestamp '2026-11-10 00:00:00')")
        con.execute("insert into raw_stripe.invoice_lines (id, invoice, amount, currency, quantity, price, period_start, "
                    "period_end, subscription_item, proration) values ('il_S', 'in_S', 4000, 'usd', 4, 'price_seats', "
                    "timestamp '2026-11-10 00:00:00', timestamp '2026-12-10 00:00:00', 'si_S', false)")
    assert not check("stg_stripe__invoices", "stg_stripe__invoice_lines", "int_ledger__item_periods")
    # 4000 over 30 days: through day k, round_half_up(4000 k / 30) = 133, 267, 400
    assert differences(home) == [("2026-11-10", 3867, 2900, -967), ("2026-11-11", 3733, 2800, -933),
                                 ("2026-11-12", 3600, 2700, -900)]

    # ... and once the ledger has posted the correction (reversal + new lines), it ties out again
    assert check("int_ledger__desired_lines", "fct_ledger_entries")
    assert differences(home) == []
