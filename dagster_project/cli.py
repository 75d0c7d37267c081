"""`tollgate`: demo, run a day, serve the Stripe emulator."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime

from dagster_project.settings import get_settings
from dagster_project.stripe_client import describe_target


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from dagster_project.runner import run_day

    settings = get_settings()
    print(f"tollgate run {args.date} (home {settings.home}, {describe_target()})")
    run = run_day(settings, args.date)
    for check in run.failed_checks:
        print(f"  FAILED CHECK {check}")
    print(f"  run {run.run_id}: {'success' if run.success else 'FAILED'}; {len(run.materialized)} assets materialized")
    return 0 if run.success and not run.failed_checks else 1


def cmd_push(args: argparse.Namespace) -> int:
    """Push fct_meter_push_input to Stripe now (what the stripe_meter_events asset does)."""
    from dagster_project.push.meter_push import PushConfig, push_meter_events
    from dagster_project.stripe_client import stripe_client
    from dagster_project.warehouse import connect

    settings = get_settings()
    config = PushConfig(concurrency=args.concurrency)
    with stripe_client(settings.emulator_state_dir) as client, connect(settings.warehouse_path) as con:
        report = push_meter_events(con, client, config=config)
    print(
        f"push: {report.new_intents} new intents, {report.resent_unresolved} resent, "
        f"{report.delivered} delivered ({report.already_in_stripe} already in Stripe), "
        f"{report.rejected} rejected, {report.unresolved} unresolved, "
        f"{report.out_of_window_units} units outside Stripe's window"
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

    run = sub.add_parser("run", help="materialize every asset for one day's partition")
    run.add_argument("--date", type=_parse_day, required=True)
    run.set_defaults(func=cmd_run)

    push = sub.add_parser("push", help="push the warehouse's desired meter totals to Stripe now")
    push.add_argument("--concurrency", type=int, default=4)
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
