"""The ledger through dbt itself: --full-refresh cannot rebuild it, a rerun posts nothing."""

from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema
from dagster_project.ledger.finance_inputs import ensure_raw_finance_schema
from dagster_project.warehouse import connect, ensure_raw_schema
from tests.conftest import run_dbt


def test_full_refresh_leaves_the_ledger_alone_and_reruns_post_nothing(home):
    with connect(home.warehouse_path) as con:
        ensure_raw_schema(con)
        ensure_raw_stripe_schema(con)
        ensure_raw_finance_schema(con)
        # a customer with a payment, a refund and a promotional grant (no usage: no Stripe data)
        con.execute("insert into raw_stripe.customers (id, metadata_customer_id) values ('cus_X', 'acct_x')")
        con.execute("insert into raw_finance.payments values ('pay_1', 'acct_x', 'usd', 5000, '2026-11-02 10:00', null)")
        con.execute("insert into raw_finance.refunds values ('re_1', 'pay_1', 1200, '2026-11-03 10:00')")
        con.execute(
            "insert into raw_finance.credit_grants values ('g1', 'acct_x', 'promotional', 700, 'usd',"
            " '2026-11-01', '2026-11-04', 50, null, '2026-11-01')"
        )
    run_dbt("seed")
    select = ["--select", "+fct_ledger_entries", "dim_ledger_accounts"]
    run_dbt("run", *select, run_date="2026-11-05")

    def ledger():
        with connect(home.warehouse_path, read_only=True) as con:
            return con.execute(
                "select transaction_type, account, debit, credit, posting_date from marts.fct_ledger_entries "
                "order by transaction_type, account"
            ).fetchall()

    first = ledger()
    # payment 5000: Dr cash / Cr receivable; refund 1200: Dr receivable / Cr cash; grant 700 and
    # its expiry on Nov 4 with nothing used: expense back to 0.
    assert [(t, a, d, c) for t, a, d, c, _ in first] == [
        ("credit_expiry", "customer_credit_balance", 700, 0),
        ("credit_expiry", "promotional_credit_expense", 0, 700),
        ("credit_grant", "customer_credit_balance", 0, 700),
        ("credit_grant", "promotional_credit_expense", 700, 0),
        ("payment", "accounts_receivable", 0, 5000),
        ("payment", "cash", 5000, 0),
        ("refund", "accounts_receivable", 1200, 0),
        ("refund", "cash", 0, 1200),
    ]
    # the same day again, with --full-refresh: `full_refresh: false` keeps the table, and the
    # rerun finds nothing to post
    run_dbt("run", *select, "--full-refresh", run_date="2026-11-05")
    assert ledger() == first

    # a late change in a closed month: the refund was 1500, not 1200, and November is closed
    with connect(home.warehouse_path) as con:
        con.execute("update raw_finance.refunds set amount = 1500")
    closed = {"ledger_closed_periods": [{"period_month": "2026-11-01", "closed_on": "2026-12-01"}]}
    run_dbt("run", *select, run_date="2026-12-02", vars=closed)
    with connect(home.warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select entry_type, account, amount, posting_date, corrects_entry_id is not null "
            "from marts.fct_ledger_entries where transaction_type = 'refund' and version = 2 order by 1, 2"
        ).fetchall()
        november = con.execute(
            "select count(*) from marts.fct_ledger_entries where accounting_period = date '2026-11-01'"
        ).fetchall()[0][0]
    from datetime import date

    assert rows == [
        ("correction", "accounts_receivable", 1500, date(2026, 12, 2), True),
        ("correction", "cash", -1500, date(2026, 12, 2), True),
        ("reversal", "accounts_receivable", -1200, date(2026, 12, 2), True),
        ("reversal", "cash", 1200, date(2026, 12, 2), True),
    ]
    assert november == len(first)  # closed November untouched
    # balance, ids, reversals mirror, closed periods untouched, ledger = desired
    run_dbt("test", "--select", "fct_ledger_entries", "dim_ledger_accounts", "int_ledger__closed_periods",
            "int_ledger__desired_lines", "--indirect-selection", "cautious", run_date="2026-12-02",
            vars=closed)
