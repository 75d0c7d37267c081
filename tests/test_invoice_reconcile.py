"""Finalized invoices read against the warehouse's desired units, line by line."""

from datetime import date, datetime
from decimal import Decimal

from dagster_project.push.invoice_reconcile import reconcile_invoiced_usage
from dagster_project.push.reconcile_assets import _difference_check
from dagster_project.warehouse import connect

PERIOD = (datetime(2026, 11, 2, 10, 0), datetime(2026, 12, 2, 10, 0))


def build_warehouse(con, invoices, lines, push_input):
    """What the Stripe extraction and dbt would hold: invoices, their lines, two meters' prices."""
    for schema in ("staging", "marts"):
        con.execute(f"create schema if not exists {schema}")
    con.execute(
        "create table staging.stg_stripe__billing_meters as "
        "select * from (values ('mtr_api', 'api_requests'), ('mtr_tok', 'llm_tokens')) t(meter_id, event_name)"
    )
    con.execute(
        """create table staging.stg_stripe__prices as select * from (values
            ('price_usd', 'mtr_api', 'usd', 'per_unit', cast(2.5 as decimal(38, 12)), null::bigint, null::bigint),
            ('price_jpy', 'mtr_api', 'jpy', 'per_unit', cast(3 as decimal(38, 12)), null::bigint, null::bigint),
            ('price_tiered', 'mtr_tok', 'usd', 'tiered', null, null::bigint, null::bigint),
            ('price_seat', null, 'usd', 'per_unit', cast(900 as decimal(38, 12)), 900, null::bigint)
        ) t(price_id, meter_id, currency, billing_scheme, unit_amount_decimal, unit_amount, transform_divide_by)"""
    )
    con.execute(
        "create table staging.stg_stripe__invoices (invoice_id varchar, stripe_customer_id varchar, status varchar)"
    )
    if invoices:
        con.executemany("insert into staging.stg_stripe__invoices values (?, ?, ?)", invoices)
    con.execute(
        "create table staging.stg_stripe__invoice_lines (invoice_line_id varchar, invoice_id varchar, "
        "price_id varchar, quantity bigint, period_start timestamp, period_end timestamp)"
    )
    if lines:
        con.executemany(
            "insert into staging.stg_stripe__invoice_lines values (?, ?, ?, ?, ?, ?)",
            [(*line, *PERIOD) for line in lines],
        )
    con.execute(
        "create table marts.fct_meter_push_input (stripe_customer_id varchar, meter_event_name varchar, "
        "usage_date date, desired_value bigint)"
    )
    con.executemany("insert into marts.fct_meter_push_input values (?, ?, ?, ?)", push_input)


def test_each_finalized_metered_line_is_compared_over_its_period(home):
    with connect(home.warehouse_path) as con:
        build_warehouse(
            con,
            invoices=[("in_a", "cus_a", "paid"), ("in_b", "cus_b", "open"), ("in_draft", "cus_a", "draft"),
                      ("in_void", "cus_b", "void")],
            lines=[
                ("il_a", "in_a", "price_usd", 7),       # matches: 3 + 4 inside the period
                ("il_seat", "in_a", "price_seat", 1),   # licensed: not usage, not compared
                ("il_b", "in_b", "price_jpy", 5),       # warehouse has 8: 3 units under-billed
                ("il_b_tok", "in_b", "price_tiered", 100),  # warehouse has 90: over-billed, no unit price
                ("il_draft", "in_draft", "price_usd", 999),  # a draft can still take usage
                ("il_void", "in_void", "price_jpy", 999),    # a void invoice bills nothing
            ],
            push_input=[
                # 11-02 00:00 is before the period's start (10:00): the previous invoice's usage.
                ("cus_a", "api_requests", date(2026, 11, 2), 100),
                ("cus_a", "api_requests", date(2026, 11, 3), 3),
                # 12-02 00:00 is before the period's end (10:00): in this period.
                ("cus_a", "api_requests", date(2026, 12, 2), 4),
                ("cus_a", "api_requests", date(2026, 12, 3), 50),
                ("cus_b", "api_requests", date(2026, 11, 20), 8),
                ("cus_b", "llm_tokens", date(2026, 11, 20), 90),
            ],
        )
        report = reconcile_invoiced_usage(con, run_id="r1")
        recorded = con.execute(
            "select invoice_line_id, difference_units, currency, amount_at_stake "
            "from push.invoice_usage_reconciliation where run_id = 'r1' order by 1"
        ).fetchall()
    assert report.lines_compared == 3  # il_a, il_b, il_b_tok
    assert [(d.invoice_line_id, d.warehouse_units, d.invoiced_units, d.currency, d.amount_at_stake)
            for d in report.differences] == [
        ("il_b", Decimal(8), Decimal(5), "jpy", 9),  # 3 x 3 yen
        ("il_b_tok", Decimal(90), Decimal(100), None, None),  # tiered: units only
    ]
    assert recorded == [("il_b", Decimal(3), "jpy", 9), ("il_b_tok", Decimal(-10), None, None)]

    check = _difference_check("invoiced_usage_matches_warehouse", report.differences, "t")
    assert not check.passed
    details = check.metadata["details"].value
    assert "cus_b llm_tokens 2026-11-02 10:00..2026-12-02 10:00 (invoice in_b)" in details
    assert "difference 3, 9 jpy minor units at stake" in details
    assert check.metadata["amount_at_stake_minor_units"].value == {"jpy": 9}


def test_no_invoices_yet_compares_nothing_and_passes(home):
    with connect(home.warehouse_path) as con:
        build_warehouse(con, invoices=[], lines=[], push_input=[("cus_a", "api_requests", date(2026, 11, 3), 3)])
        report = reconcile_invoiced_usage(con)
    assert (report.lines_compared, report.differences) == (0, [])
    assert _difference_check("invoiced_usage_matches_warehouse", [], "t").passed
