"""The finance_report asset on a small fixture warehouse: the HTML page lands under
$TOLLGATE_HOME/reports/, draws its charts, and every figure it shows (and attaches as
metadata) equals the marts' own numbers, summed here with SQL of the test's own."""

import re
from datetime import date

import pytest
from dagster import materialize

from dagster_project.ledger.assets import finance_report
from dagster_project.ledger.report import major
from dagster_project.resources import WarehouseResource
from dagster_project.warehouse import connect

AS_OF = date(2026, 11, 21)

# Only the columns the report reads; amounts in minor units (JPY has none).
FIXTURE = """
create schema intermediate;
create schema marts;
create table intermediate.int_ledger__as_of as select date '2026-11-21' as as_of_date;
create table marts.rpt_mrr (currency varchar, mrr_month date, customer_id varchar, mrr bigint);
insert into marts.rpt_mrr values
    ('usd', '2026-10-01', 'acct_0001', 50000), ('usd', '2026-10-01', 'acct_0002', 20000),
    ('usd', '2026-11-01', 'acct_0001', 61744), ('usd', '2026-11-01', 'acct_0002', 55000),
    ('jpy', '2026-11-01', 'acct_0007', 57397);
create table marts.rpt_revenue_summary (recognition_month date, currency varchar, product_name varchar,
                                        recognized_revenue bigint);
insert into marts.rpt_revenue_summary values
    ('2026-10-01', 'usd', 'API requests', 12000), ('2026-10-01', 'usd', 'Storage', 3050),
    ('2026-11-01', 'usd', 'API requests', 30898), ('2026-11-01', 'usd', 'Storage', 13000),
    ('2026-11-01', 'jpy', 'LLM tokens', 988520);
create table marts.rpt_revenue_recognition (customer_id varchar, stripe_customer_id varchar, currency varchar,
                                            recognized_revenue bigint);
insert into marts.rpt_revenue_recognition values
    ('acct_0001', 'cus_A', 'usd', 40000), ('acct_0001', 'cus_A', 'usd', 9000),
    ('acct_0002', 'cus_B', 'usd', 9948), ('acct_0007', 'cus_J', 'jpy', 988520);
create table marts.fct_account_balances (balance_date date, customer_id varchar, stripe_customer_id varchar,
    currency varchar, receivable bigint, unbilled_receivable bigint, total_owed bigint, credits_remaining bigint);
insert into marts.fct_account_balances values
    -- an older day with other numbers: only each customer's last day counts
    ('2026-11-20', 'acct_0001', 'cus_A', 'usd', 1, 1, 999999, 0),
    ('2026-11-21', 'acct_0001', 'cus_A', 'usd', 2500, 123807, 126307, 9854),
    ('2026-11-21', 'acct_0002', 'cus_B', 'usd', 0, 0, 0, 0),
    ('2026-11-21', 'acct_0007', 'cus_J', 'jpy', 0, 198301, 198301, 0);
"""


@pytest.fixture
def report(home):
    with connect(home.warehouse_path) as con:
        con.execute(FIXTURE)
    result = materialize([finance_report], resources={"warehouse": WarehouseResource()})
    assert result.success
    [materialization] = result.asset_materializations_for_node("finance_report")
    return home, materialization.metadata


def marts_figures(home) -> dict:
    """What finance asks, answered from the fixture marts directly."""
    with connect(home.warehouse_path, read_only=True) as con:
        def per_currency(sql):
            return {cur: int(v) for cur, v in con.execute(sql).fetchall()}

        return {
            "mrr": per_currency(
                "select currency, sum(mrr) from marts.rpt_mrr m where mrr_month = "
                "(select max(mrr_month) from marts.rpt_mrr where currency = m.currency) group by 1"
            ),
            "mrr_by_month": con.execute(
                "select currency, mrr_month, sum(mrr) from marts.rpt_mrr group by 1, 2 order by 1, 2").fetchall(),
            "recognized_october": per_currency(
                "select currency, sum(recognized_revenue) from marts.rpt_revenue_summary "
                "where recognition_month = date '2026-10-01' group by 1"
            ),
            "recognized_november": per_currency(
                "select currency, sum(recognized_revenue) from marts.rpt_revenue_summary "
                "where recognition_month = date '2026-11-01' group by 1"
            ),
            "by_product": con.execute(
                "select currency, product_name, sum(recognized_revenue) from marts.rpt_revenue_summary group by 1, 2"
            ).fetchall(),
            "owed": con.execute(
                "select customer_id, currency, receivable, unbilled_receivable, total_owed, credits_remaining "
                "from marts.fct_account_balances where balance_date = date '2026-11-21'"
            ).fetchall(),
        }


def test_the_report_is_written_under_tollgate_home_with_its_charts(report):
    home, metadata = report
    dated = home.home / "reports" / f"finance_report_{AS_OF}.html"
    latest = home.home / "reports" / "finance_report.html"
    assert dated.is_file() and latest.read_text() == dated.read_text()
    assert metadata["report_path"].value == str(dated)
    page = dated.read_text()
    # Per currency: MRR by month (a line), revenue by product and top customers (bars).
    assert page.count("<svg") == 3 * 2 == metadata["charts"].value
    assert page.count("<polyline") == 1  # USD has two months of MRR; JPY one point
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_every_figure_shown_equals_the_marts(report):
    home, metadata = report
    page = (home.home / "reports" / "finance_report.html").read_text()
    summary = metadata["report"].value
    expected = marts_figures(home)
    assert expected["mrr"] == {"usd": 116744, "jpy": 57397}  # the fixture says so, the report must too
    for cur, mrr in expected["mrr"].items():
        assert f"MRR {major(mrr, cur)} · ARR {major(12 * mrr, cur)}" in page
        assert f"| MRR | {major(mrr, cur)} |" in summary and f"| ARR | {major(12 * mrr, cur)} |" in summary
    for cur in ("usd", "jpy"):
        october = major(expected["recognized_october"].get(cur, 0), cur)
        november = major(expected["recognized_november"].get(cur, 0), cur)
        assert f"recognized in October 2026: {october}" in page and f"November 2026 to date: {november}" in page
        assert f"| recognized in October 2026 | {october} |" in summary
        assert f"| recognized in November 2026 to date | {november} |" in summary
    for cur, month, mrr in expected["mrr_by_month"]:
        assert f"<title>{month:%Y-%m}: {major(int(mrr), cur)}</title>" in page  # the chart's points
        assert f"| {month:%Y-%m} | {major(int(mrr), cur)} |" in summary
    for cur, product, revenue in expected["by_product"]:
        assert re.search(rf">{re.escape(product)}</text>.*?>{re.escape(major(int(revenue), cur))}</text>", page)
    for customer, cur, receivable, unbilled, owed, credits in expected["owed"]:
        row = (f"<tr><td>{customer}</td><td>{major(receivable, cur)}</td><td>{major(unbilled, cur)}</td>"
               f"<td><b>{major(owed, cur)}</b></td><td>{major(credits, cur)}</td></tr>")
        assert row in page
    assert "999,999" not in page and "9,999.99" not in page  # the older balance day is not shown
    # The same numbers as plain values, for anything reading the metadata.
    assert metadata["mrr_minor_units"].value == expected["mrr"]
    assert metadata["recognized_last_month_minor_units"].value == expected["recognized_october"]
    assert metadata["owed_minor_units"].value == {"usd": 126307, "jpy": 198301}
    assert metadata["customers_owing"].value == 2
    assert "| acct_0007 | 0 JPY | 198,301 JPY | 198,301 JPY | 0 JPY |" in summary
