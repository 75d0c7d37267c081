"""Usage anomalies: a customer's daily usage of a meter far outside its own history.

The statistic is the modified z-score of Iglewicz and Hoaglin, which a few extreme days cannot
drag along the way a mean and standard deviation can:

    score = (x - median(history)) / scale,   scale = 1.4826 * MAD(history)

* ``x``: the customer's units of the meter on the day checked (0 when it has none that day);
* ``history``: its daily units over the ``HISTORY_DAYS`` days before, from its first day of
  usage on, days without usage counting as 0;
* ``MAD``: the median absolute deviation from the median; 1.4826 * MAD estimates the standard
  deviation of normally distributed data. When MAD is 0 (most days identical), the mean absolute
  deviation * 1.2533 is used instead, and the scale is never below 5% of |median| (or one unit
  when the median is 0), so a perfectly flat history does not make every wobble an anomaly;
* a pair is flagged when |score| > ``THRESHOLD`` (3.5, the usual cut-off for this statistic),
  in either direction: a spike (over-billing risk, runaway client) or a drop to near nothing
  (lost usage files, a broken producer).

A pair needs ``MIN_HISTORY_DAYS`` days of history before it is judged. Quantities stay
``Decimal`` throughout: the statistic never touches a float.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from statistics import median

HISTORY_DAYS = 28
MIN_HISTORY_DAYS = 7
THRESHOLD = Decimal("3.5")
MAD_TO_SIGMA = Decimal("1.4826")
MEAN_AD_TO_SIGMA = Decimal("1.2533")
MIN_SCALE_SHARE_OF_MEDIAN = Decimal("0.05")


@dataclass(frozen=True)
class Anomaly:
    customer_id: str
    stripe_customer_id: str
    meter_event_name: str
    usage_date: date
    units: Decimal
    median: Decimal
    mad: Decimal
    score: Decimal
    history_days: int

    @property
    def direction(self) -> str:
        return "spike" if self.units > self.median else "drop"


def robust_score(x: Decimal, history: list[Decimal]) -> tuple[Decimal, Decimal, Decimal]:
    """(median, MAD, modified z-score) of ``x`` against ``history``."""
    med = median(history)
    deviations = [abs(h - med) for h in history]
    mad = median(deviations)
    scale = MAD_TO_SIGMA * mad
    if scale == 0:
        scale = MEAN_AD_TO_SIGMA * sum(deviations, Decimal(0)) / len(deviations)
    scale = max(scale, MIN_SCALE_SHARE_OF_MEDIAN * abs(med)) or Decimal(1)
    return med, mad, (x - med) / scale


def find_anomalies(rows: list[tuple], day: date) -> list[Anomaly]:
    """``rows``: (customer_id, stripe_customer_id, meter, usage_date, quantity) daily totals."""
    series: dict[tuple[str, str, str], dict[date, Decimal]] = defaultdict(dict)
    for customer, stripe_customer, meter, usage_date, quantity in rows:
        series[(customer, stripe_customer, meter)][usage_date] = Decimal(quantity)
    found = []
    for (customer, stripe_customer, meter), by_day in sorted(series.items()):
        first = min(by_day)
        start = max(first, day - timedelta(days=HISTORY_DAYS))
        history = [by_day.get(start + timedelta(days=k), Decimal(0)) for k in range((day - start).days)]
        if len(history) < MIN_HISTORY_DAYS:
            continue
        x = by_day.get(day, Decimal(0))
        med, mad, score = robust_score(x, history)
        if abs(score) > THRESHOLD:
            found.append(
                Anomaly(customer, stripe_customer, meter, day, x, med, mad, score.quantize(Decimal("0.1")), len(history))
            )
    return found


def usage_rows(con, day: date) -> list[tuple]:
    return con.execute(
        """
        select customer_id, stripe_customer_id, meter_event_name, usage_date, quantity
        from marts.fct_usage_daily
        where usage_date between ? and ?
        """,
        [day - timedelta(days=HISTORY_DAYS), day],
    ).fetchall()
