"""The finance report: one self-contained HTML page (inline SVG, no script, no network) with
MRR over time, revenue by product and the top customers, read from the marts.

Amounts in the marts are integers in minor units; they are shown in major units here, per
currency (a chart never adds two currencies together).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
PALETTE = ["#2f6fdf", "#e07b39", "#3aa57a", "#b44fb8", "#c9a227", "#5b6b7f", "#d9534f", "#17a2b8"]


def major(amount: int, currency: str) -> str:
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount:,} {currency.upper()}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100:,}.{abs(amount) % 100:02d} {currency.upper()}"


@dataclass
class FinanceSnapshot:
    as_of: date
    currencies: list[str]
    mrr_by_month: dict[str, list[tuple[date, int]]]  # currency -> [(month, mrr)]
    revenue_by_product: dict[str, list[tuple[str, int]]]  # currency -> [(product, revenue)]
    top_customers: dict[str, list[tuple[str, int, int]]]  # currency -> [(customer, revenue, owed)]
    recognized_last_month: dict[str, int]
    last_month: date
    recognized_month_to_date: dict[str, int]
    owed: list[tuple[str, str, int, int, int, int]]  # customer, currency, receivable, unbilled, total, credits


def read_snapshot(con: duckdb.DuckDBPyConnection) -> FinanceSnapshot:
    as_of = con.execute("select as_of_date from intermediate.int_ledger__as_of").fetchall()[0][0]
    mrr_rows = con.execute(
        "select currency, mrr_month, sum(mrr) from marts.rpt_mrr group by 1, 2 order by 1, 2"
    ).fetchall()
    rev_rows = con.execute(
        "select currency, product_name, sum(recognized_revenue) from marts.rpt_revenue_summary "
        "group by 1, 2 order by 1, 3 desc"
    ).fetchall()
    top_rows = con.execute(
        """
        with revenue as (
            select coalesce(customer_id, stripe_customer_id) as customer, stripe_customer_id, currency,
                   sum(recognized_revenue) as revenue
            from marts.rpt_revenue_recognition group by 1, 2, 3
        ),
        owed as (
            select stripe_customer_id, currency, total_owed from marts.fct_account_balances
            qualify row_number() over (partition by stripe_customer_id, currency order by balance_date desc) = 1
        )
        select revenue.currency, revenue.customer, revenue.revenue, coalesce(owed.total_owed, 0)
        from revenue left join owed using (stripe_customer_id, currency)
        order by revenue.currency, revenue.revenue desc, revenue.customer
        """
    ).fetchall()
    last_month = _last_month(as_of)
    recognized = dict(
        con.execute(
            "select currency, sum(recognized_revenue) from marts.rpt_revenue_summary "
            "where recognition_month = ? group by 1 order by 1",
            [last_month],
        ).fetchall()
    )
    month_to_date = dict(
        con.execute(
            "select currency, sum(recognized_revenue) from marts.rpt_revenue_summary "
            "where recognition_month = ? group by 1 order by 1",
            [as_of.replace(day=1)],
        ).fetchall()
    )
    owed = con.execute(
        """
        select coalesce(customer_id, stripe_customer_id), currency, receivable, unbilled_receivable,
               total_owed, credits_remaining
        from marts.fct_account_balances
        qualify row_number() over (partition by stripe_customer_id, currency order by balance_date desc) = 1
        order by total_owed desc, 1
        """
    ).fetchall()
    mrr: dict[str, list] = {}
    for cur, month, value in mrr_rows:
        mrr.setdefault(cur, []).append((month, int(value)))
    revenue: dict[str, list] = {}
    for cur, product, value in rev_rows:
        revenue.setdefault(cur, []).append((product, int(value)))
    top: dict[str, list] = {}
    for cur, customer, value, total_owed in top_rows:
        if len(top.setdefault(cur, [])) < 10:
            top[cur].append((customer, int(value), int(total_owed)))
    currencies = sorted(set(mrr) | set(revenue) | set(top))
    return FinanceSnapshot(as_of, currencies, mrr, revenue, top, {k: int(v) for k, v in recognized.items()}, last_month,
                          {k: int(v) for k, v in month_to_date.items()}, owed)


def _last_month(as_of: date) -> date:
    first = as_of.replace(day=1)
    return (first.replace(year=first.year - 1, month=12) if first.month == 1 else first.replace(month=first.month - 1))


def _bar_chart(title: str, rows: list[tuple[str, int]], currency: str, width: int = 640) -> str:
    if not rows:
        return f"<p><em>{html.escape(title)}: nothing yet.</em></p>"
    bar_h, gap, label_w, pad = 22, 8, 200, 10
    height = pad * 2 + len(rows) * (bar_h + gap) + 24
    top = max(max(v for _, v in rows), 1)
    plot_w = width - label_w - 150
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="{pad}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(rows):
        y = 30 + i * (bar_h + gap)
        w = max(int(plot_w * max(value, 0) / top), 1)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end">{html.escape(str(label)[:28])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{PALETTE[i % len(PALETTE)]}"/>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 15}" font-size="12">{html.escape(major(value, currency))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _line_chart(title: str, points: list[tuple[date, int]], currency: str, width: int = 640, height: int = 260) -> str:
    if not points:
        return f"<p><em>{html.escape(title)}: nothing yet.</em></p>"
    left, right, top_pad, bottom = 90, 20, 30, 40
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max(max(v for _, v in points), 1)
    n = len(points)
    step = plot_w / max(n - 1, 1)
    coords = [(left + (i * step if n > 1 else plot_w / 2), top_pad + plot_h - plot_h * max(v, 0) / top) for i, (_, v) in enumerate(points)]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="10" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
             f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#999"/>',
             f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{top_pad + 4}" font-size="11" text-anchor="end">{html.escape(major(top, currency))}</text>',
             f'<text x="{left - 6}" y="{top_pad + plot_h}" font-size="11" text-anchor="end">0</text>']
    if n > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2.5"/>')
    for (x, y), (month, value) in zip(coords, points, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{PALETTE[0]}"><title>{month:%Y-%m}: {html.escape(major(value, currency))}</title></circle>')
        parts.append(f'<text x="{x:.1f}" y="{top_pad + plot_h + 16}" font-size="11" text-anchor="middle">{month:%Y-%m}</text>')
        parts.append(f'<text x="{x:.1f}" y="{y - 8:.1f}" font-size="11" text-anchor="middle">{html.escape(major(value, currency))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(s: FinanceSnapshot) -> str:
    sections = []
    for cur in s.currencies:
        mrr_points = s.mrr_by_month.get(cur, [])
        current = mrr_points[-1][1] if mrr_points else 0
        sections.append(
            f"<section><h2>{cur.upper()}</h2>"
            f"<p class='kpi'>MRR {html.escape(major(current, cur))} · ARR {html.escape(major(12 * current, cur))}"
            f" · recognized in {s.last_month:%B %Y}: {html.escape(major(s.recognized_last_month.get(cur, 0), cur))}"
            f" · {s.as_of:%B %Y} to date: {html.escape(major(s.recognized_month_to_date.get(cur, 0), cur))}</p>"
            + _line_chart(f"MRR by month ({cur.upper()})", mrr_points, cur)
            + _bar_chart(f"Recognized revenue by product ({cur.upper()})", s.revenue_by_product.get(cur, []), cur)
            + _bar_chart(f"Top customers by recognized revenue ({cur.upper()})", [(c, v) for c, v, _ in s.top_customers.get(cur, [])], cur)
            + "</section>"
        )
    owed_rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{html.escape(major(r, cur))}</td><td>{html.escape(major(u, cur))}</td>"
        f"<td><b>{html.escape(major(t, cur))}</b></td><td>{html.escape(major(cr, cur))}</td></tr>"
        for c, cur, r, u, t, cr in s.owed
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tollgate finance report as of {s.as_of}</title>
<style>
body {{ font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }}
.kpi {{ font-size: 16px; }} table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ddd; padding: 4px 8px; text-align: right; }} td:first-child {{ text-align: left; }}
section {{ margin-bottom: 28px; }}
</style></head><body>
<h1>Tollgate finance report, as of {s.as_of}</h1>
<p>From the warehouse's <code>marts</code> schema: <code>rpt_mrr</code>, <code>rpt_revenue_summary</code>,
<code>rpt_revenue_recognition</code>, <code>fct_account_balances</code>. Amounts per currency, never added across currencies.</p>
{''.join(sections)}
<section><h2>Who owes what</h2>
<table><tr><th>customer</th><th>billed (receivable)</th><th>unbilled</th><th>total owed</th><th>credits remaining</th></tr>
{owed_rows}</table></section>
</body></html>
"""


def write_report(con: duckdb.DuckDBPyConnection, reports_dir: Path) -> tuple[Path, FinanceSnapshot]:
    snapshot = read_snapshot(con)
    reports_dir.mkdir(parents=True, exist_ok=True)
    page = render_html(snapshot)
    path = reports_dir / f"finance_report_{snapshot.as_of}.html"
    path.write_text(page, encoding="utf-8")
    (reports_dir / "finance_report.html").write_text(page, encoding="utf-8")
    return path, snapshot


def total_owed(s: FinanceSnapshot) -> dict[str, int]:
    """Billed + unbilled receivable per currency, as of the last balance day."""
    totals: dict[str, int] = {}
    for _, cur, _, _, owed, _ in s.owed:
        totals[cur] = totals.get(cur, 0) + int(owed)
    return totals


def summary_markdown(s: FinanceSnapshot, path: Path, top: int = 5) -> str:
    """The report's numbers as Markdown for the asset's metadata: the same figures as the HTML
    page, so the UI answers "what is our MRR, what did we recognize, who owes what" without
    opening the file (Dagster's Markdown does not draw the page's SVG charts)."""
    owed_by_currency = total_owed(s)
    lines = [f"**Finance report as of {s.as_of}**: `{path}`", ""]
    if not s.currencies:
        lines.append("No finance data yet.")
    for cur in s.currencies:
        points = s.mrr_by_month.get(cur, [])
        mrr = points[-1][1] if points else 0
        lines += [
            f"### {cur.upper()}", "",
            "| figure | amount |", "|---|---:|",
            f"| MRR | {major(mrr, cur)} |",
            f"| ARR | {major(12 * mrr, cur)} |",
            f"| recognized in {s.last_month:%B %Y} | {major(s.recognized_last_month.get(cur, 0), cur)} |",
            f"| recognized in {s.as_of:%B %Y} to date | {major(s.recognized_month_to_date.get(cur, 0), cur)} |",
            f"| owed (billed + unbilled) | {major(owed_by_currency.get(cur, 0), cur)} |",
            "",
            "| month | MRR |", "|---|---:|",
            *[f"| {month:%Y-%m} | {major(value, cur)} |" for month, value in points],
            "",
        ]
    owing = [row for row in s.owed if row[4] > 0][:top]
    if owing:
        lines += [f"**Who owes the most** (top {top})", "",
                  "| customer | billed | unbilled | total owed | credits remaining |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {c} | {major(r, cur)} | {major(u, cur)} | {major(t, cur)} | {major(cr, cur)} |"
                  for c, cur, r, u, t, cr in owing]
    return "\n".join(lines)


def answer(con: duckdb.DuckDBPyConnection) -> str:
    """What is our MRR, what did we recognize last month, and who owes what: three lines of text."""
    s = read_snapshot(con)
    mrr = ", ".join(major(points[-1][1], cur) for cur, points in sorted(s.mrr_by_month.items()) if points) or "0"
    recognized = ", ".join(major(v, c) for c, v in sorted(s.recognized_last_month.items())) or "nothing"
    to_date = ", ".join(major(v, c) for c, v in sorted(s.recognized_month_to_date.items())) or "nothing"
    owed_parts = []
    for currency in sorted({cur for _, cur, *_ in s.owed}):  # ranked within each currency
        top = [(c, t) for c, cur, _, _, t, _ in s.owed if cur == currency and t > 0][:3]
        owed_parts.extend(f"{c} {major(t, currency)}" for c, t in top)
    owed = "; ".join(owed_parts) or "nobody"
    return (
        f"Finance as of {s.as_of}: MRR {mrr}\n"
        f"  recognized in {s.last_month:%B %Y}: {recognized}; in {s.as_of:%B %Y} to date: {to_date}\n"
        f"  who owes the most (billed + unbilled, top 3 per currency): {owed}"
    )
