"""`tollgate`: demo, run a day, serve the Stripe emulator."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timedelta

from dagster_project.settings import get_settings
from dagster_project.stripe_client import describe_target


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _days(args: argparse.Namespace) -> list[date]:
    if args.date and (args.date_from or args.date_to):
        raise SystemExit("tollgate run: give --date, or --from and --to, not both")
    if args.date:
        return [args.date]
    if not (args.date_from and args.date_to):
        raise SystemExit("tollgate run: give --date D, or --from D1 --to D2")
    if args.date_to < args.date_from:
        raise SystemExit(f"tollgate run: --to {args.date_to} is before --from {args.date_from}")
    return [args.date_from + timedelta(days=k) for k in range((args.date_to - args.date_from).days + 1)]


def cmd_run(args: argparse.Namespace) -> int:
    """One day, or a backfill over a date range: one run per day, oldest first (each day's push
    corrects the days before it, so order matters). Stops at the first failed run unless
    --keep-going; failed checks and failed runs are also delivered as alerts."""
    from dagster import DagsterInstance

    from dagster_project.observe.alerts import alerts_for_run, deliver
    from dagster_project.runner import dagster_instance, run_day

    settings = get_settings()
    days = _days(args)
    print(f"tollgate run {days[0]}" + (f" .. {days[-1]} ({len(days)} days)" if len(days) > 1 else "")
          + f" (home {settings.home}, {describe_target()})")
    ok = True
    for day in days:
        run = run_day(settings, day)
        for check in run.failed_checks:
            print(f"  FAILED CHECK {check}")
        for check in run.warned_checks:
            print(f"  warning {check}")
        print(f"  {day} run {run.run_id}: {'success' if run.success else 'FAILED'}; {len(run.materialized)} assets materialized")
        instance: DagsterInstance = dagster_instance(settings)
        record = instance.get_run_by_id(run.run_id)
        if record is not None:
            deliver(alerts_for_run(instance, record), settings.home)
        day_ok = run.success and not run.failed_checks
        ok &= day_ok
        if not day_ok and not args.keep_going:
            print(f"  stopped after {day}: fix it, then rerun from {day} (or pass --keep-going)")
            break
    return 0 if ok else 1


def cmd_push(args: argparse.Namespace) -> int:
    """Push fct_meter_push_input to Stripe now (what the stripe_meter_events asset does)."""
    from dagster_project.push.meter_push import PushConfig, push_meter_events
    from dagster_project.stripe_client import stripe_client
    from dagster_project.warehouse import connect

    settings = get_settings()
    config = PushConfig(
        api=args.api,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        stream_requests_per_second=args.stream_rate,
    )
    with stripe_client(settings.emulator_state_dir) as client, connect(settings.warehouse_path) as con:
        report = push_meter_events(con, client, config=config)
    print(
        f"push: {report.new_intents} new intents, {report.resent_unresolved} resent, "
        f"{report.delivered} delivered ({report.already_in_stripe} already in Stripe), "
        f"{report.rejected} rejected, {report.unresolved} unresolved, "
        f"{report.out_of_window_units} units outside Stripe's window; "
        f"{report.requests} {report.api} requests, {report.sessions_created} sessions"
    )
    return 0 if report.rejected == 0 and report.unresolved == 0 else 1


def cmd_emulator(args: argparse.Namespace) -> int:
    from dagster_project.stripe_emulator.server import EmulatorServer, EmulatorSettings

    settings = get_settings()
    server = EmulatorServer(settings.emulator_state_dir, port=args.port, settings=EmulatorSettings.from_env())
    server.start()
    print(f"Stripe emulator on {server.url} (state in {settings.emulator_state_dir})", flush=True)
    print(f"  export STRIPE_API_BASE={server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Print a customer's invoice preview line by line, with how each line was computed."""
    from dagster_project.billing.explain import explain
    from dagster_project.warehouse import connect

    settings = get_settings()
    if not settings.warehouse_path.exists():
        print(f"no warehouse at {settings.warehouse_path}: run `tollgate demo` or `tollgate run` first")
        return 1
    with connect(settings.warehouse_path, read_only=True) as con:
        print(explain(con, args.customer, args.period))
    return 0


def _parse_month(text: str) -> str:
    try:
        return datetime.strptime(text, "%Y-%m").strftime("%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a month YYYY-MM, got {text!r}") from None


def cmd_demo(args: argparse.Namespace) -> int:
    from dagster_project.demo import run_demo

    return run_demo(get_settings(), days=args.days, customers=args.customers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tollgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="sample data + emulator + the whole pipeline for several days")
    demo.add_argument("--days", type=int, default=3)
    demo.add_argument("--customers", type=int, default=20)
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", help="materialize every asset for one day, or each day of a range")
    run.add_argument("--date", type=_parse_day)
    run.add_argument("--from", dest="date_from", type=_parse_day, help="first day of a backfill")
    run.add_argument("--to", dest="date_to", type=_parse_day, help="last day of a backfill (inclusive)")
    run.add_argument("--keep-going", action="store_true", help="go on with later days after a failed one")
    run.set_defaults(func=cmd_run)

    push = sub.add_parser("push", help="push the warehouse's desired meter totals to Stripe now")
    push.add_argument("--api", choices=["stream", "v1"], default="stream",
                      help="stream: v2 meter event stream, up to 100 events a request (default); "
                      "v1: one request per meter event")
    push.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    push.add_argument("--batch-size", type=int, default=100, help="events per stream request (1-100)")
    push.add_argument("--stream-rate", type=float, default=20.0,
                      help="stream requests per second, paced on our side (Stripe test mode: 25/s "
                      "basic limit; live: 10,000/s; 0 = unpaced)")
    push.set_defaults(func=cmd_push)

    explain = sub.add_parser(
        "explain", help="an invoice preview line by line, with how each line was computed"
    )
    explain.add_argument("--customer", required=True, help="platform key (acct_...) or Stripe id (cus_...)")
    explain.add_argument("--period", type=_parse_month, required=True, help="YYYY-MM the period starts in")
    explain.set_defaults(func=cmd_explain)

    emulator = sub.add_parser("emulator", help="serve the Stripe emulator on 127.0.0.1")
    emulator.add_argument("--port", type=int, default=12111)
    emulator.set_defaults(func=cmd_emulator)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
