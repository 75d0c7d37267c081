"""The push input's carried state (int_usage_cumulative_before_window) gives the same push input
as a full rebuild: daily runs over more days than the late-arrival window, with late arrivals,
fractional quantities (whole units carried forward), a held line billed days later, a rerun of
the same day and a rerun of an earlier day (which rebuilds the state).

late_arrival_days is set to 3 so the window moves past usage days within a few runs."""

import json
import os
from datetime import date, timedelta

import pytest

from dagster_project.ingest.landing import ingest_day
from dagster_project.ingest.stripe_extract import ensure_raw_stripe_schema
from dagster_project.warehouse import connect
from tests.conftest import run_dbt

LATE = 3
D0 = date(2026, 11, 1)
DAYS = [D0 + timedelta(days=i) for i in range(9)]
SELECT = ["build", "--exclude", "test_type:unit", "--select", "+fct_meter_push_input"]


def ev(event_id, day, quantity, customer="acct_a", meter="api_requests"):
    return json.dumps({"event_id": event_id, "customer_id": customer, "meter": meter,
                       "timestamp": f"{day.isoformat()}T10:00:00Z", "quantity": quantity})


def lines(i: int, day: date) -> list[str]:
    out = [
        ev(f"a{i}", day, f"{i}.35"),                             # fractions: whole units carried
        ev(f"s{i}", day, "0.4", meter="storage"),
        ev(f"late{i}", day - timedelta(days=2), "1.3"),          # late, inside the window
        ev(f"old{i}", day - timedelta(days=LATE + 2), "5"),      # too_late: never billed
        ev(f"a{i}", day, f"{i}.35"),                             # duplicate
    ]
    if i == 2:
        out.append(ev("held", day, "2.5", customer="acct_new"))  # billed once acct_new exists
    return out


def land(home, i):
    day = DAYS[i]
    folder = home / "landing" / "usage" / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.ndjson").write_text("\n".join(lines(i, day)) + "\n")
    with connect(home / "warehouse.duckdb") as con:
        ingest_day(con, home / "landing" / "usage", day)


def daily(day):
    run_dbt(*SELECT, run_date=day, vars={"late_arrival_days": LATE})


def push_input(home):
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        return con.execute(
            "select push_key, usage_date, quantity, cumulative_quantity, desired_value, carried_remainder "
            "from marts.fct_meter_push_input order by push_key"
        ).fetchall()


def state_and_expected(home, day):
    """The carried state, and the same sums taken over fct_usage_daily directly."""
    window_start = day - timedelta(days=LATE)
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        state = con.execute(
            "select stripe_customer_id, meter_event_name, quantity, through_date "
            "from intermediate.int_usage_cumulative_before_window order by 1, 2"
        ).fetchall()
        expected = con.execute(
            "select stripe_customer_id, meter_event_name, sum(quantity), ? from marts.fct_usage_daily "
            "where usage_date < ? group by 1, 2 order by 1, 2",
            [window_start, window_start],
        ).fetchall()
    return state, expected


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("carried")
    old = os.environ.get("TOLLGATE_HOME")
    os.environ["TOLLGATE_HOME"] = str(home)
    try:
        with connect(home / "warehouse.duckdb") as con:
            ensure_raw_stripe_schema(con)
            con.execute("insert into raw_stripe.customers (id, metadata_customer_id) values ('cus_A', 'acct_a')")
            con.execute("insert into raw_stripe.billing_meters (id, event_name, status) values "
                        "('mtr_1', 'api_requests', 'active'), ('mtr_2', 'storage', 'active')")
            con.execute(
                "insert into raw_stripe.prices (id, recurring_meter, billing_scheme, unit_amount_decimal, "
                "currency, active) values ('price_1', 'mtr_1', 'per_unit', '0.5', 'usd', true), "
                "('price_2', 'mtr_2', 'per_unit', '0.5', 'usd', true)"
            )
            con.execute("insert into raw_stripe.subscriptions (id, customer, status) values ('sub_A', 'cus_A', 'active')")
            con.execute("insert into raw_stripe.subscription_items (id, subscription, price) values "
                        "('si_A1', 'sub_A', 'price_1'), ('si_A2', 'sub_A', 'price_2')")
        out = {"states": []}
        for i, day in enumerate(DAYS[:7]):
            if i == 4:  # acct_new appears in Stripe: its held line of day 2 is billed by day 4's run
                with connect(home / "warehouse.duckdb") as con:
                    con.execute("insert into raw_stripe.customers (id, metadata_customer_id) values ('cus_N', 'acct_new')")
                    con.execute("insert into raw_stripe.subscriptions (id, customer, status) values ('sub_N', 'cus_N', 'active')")
                    con.execute("insert into raw_stripe.subscription_items (id, subscription, price) values ('si_N', 'sub_N', 'price_1')")
            land(home, i)
            daily(day)
            out["states"].append((day, *state_and_expected(home, day)))
            if i == 5:
                out["before_rerun"] = push_input(home)
                daily(day)  # rerun of the same day
                out["after_rerun"] = push_input(home)
        out["before_backward_rerun"] = push_input(home)
        daily(DAYS[3])  # a rerun of an earlier day: its window reaches days the state holds
        out["states"].append((DAYS[3], *state_and_expected(home, DAYS[3])))
        out["after_backward_rerun"] = push_input(home)
        land(home, 7)
        daily(DAYS[7])  # carried forward again from the rebuilt state
        out["states"].append((DAYS[7], *state_and_expected(home, DAYS[7])))
        out["daily"] = push_input(home)
        with connect(home / "warehouse.duckdb", read_only=True) as con:
            out["held"] = con.execute(
                "select count(*) from marts.fct_usage_daily where stripe_customer_id = 'cus_N'").fetchone()[0]
        run_dbt(*SELECT, vars={"late_arrival_days": LATE})  # no run_date: everything recomputed
        out["full"] = push_input(home)
        yield out
    finally:
        if old is None:
            os.environ.pop("TOLLGATE_HOME", None)
        else:
            os.environ["TOLLGATE_HOME"] = old


def test_state_equals_the_sum_before_the_window_after_every_run(runs):
    assert len(runs["states"]) == 9
    for day, state, expected in runs["states"]:
        assert state == expected, day
    # The window moved past usage days: the state is not trivially empty.
    assert runs["states"][-1][1]


def test_daily_runs_with_carried_state_equal_a_full_rebuild(runs):
    assert runs["held"] == 1  # the held line was billed on a later run
    assert runs["daily"] == runs["full"]
    # Whole units only: every row's units plus its carried fraction is its cumulative total
    # less the previous rows' units (nothing rounded away, nothing sent twice).
    for _, _, _, cumulative, _desired, remainder in runs["daily"]:
        assert 0 <= remainder < 1 and remainder == cumulative - int(cumulative)
    assert sum(r[4] for r in runs["daily"]) > 0
    assert any(r[5] != 0 for r in runs["daily"])  # some fraction is carried forward


def test_rerun_of_the_same_day_changes_nothing(runs):
    assert runs["after_rerun"] == runs["before_rerun"]


def test_rerun_of_an_earlier_day_changes_nothing(runs):
    assert runs["after_backward_rerun"] == runs["before_backward_rerun"]
