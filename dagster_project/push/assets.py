"""The stripe_meter_events asset: the warehouse's desired totals, pushed exactly once."""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dagster_project.partitions import daily_partitions
from dagster_project.push.meter_push import push_meter_events
from dagster_project.quality.conservation import SQL_DIR
from dagster_project.resources import StripeResource, WarehouseResource
from dagster_project.transform.dbt_assets import PUSH_INPUT_KEY


@asset(
    deps=[PUSH_INPUT_KEY],
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.multi_run(1),
    group_name="push",
    check_specs=[
        AssetCheckSpec(
            "all_desired_usage_in_stripe",
            asset="stripe_meter_events",
            description="After the push, delivered = desired for every customer, meter and day "
            "(no rejected, unresolved or out-of-window units).",
        )
    ],
)
def stripe_meter_events(
    context: AssetExecutionContext, warehouse: WarehouseResource, stripe: StripeResource
):
    """Meter events sent to Stripe Billing: per customer, meter and day, the difference between
    fct_meter_push_input and what the push log says was delivered, with deterministic
    identifiers recorded before each call."""
    with stripe.client() as client, warehouse.connection() as con:
        report = push_meter_events(con, client, run_id=context.run_id)
        outbox = outbox_status(con)
    outstanding = report.desired_units - report.delivered_units_before - report.delivered_units
    yield MaterializeResult(
        metadata={
            "desired_units": MetadataValue.int(report.desired_units),
            "delivered_units_before_run": MetadataValue.int(report.delivered_units_before),
            "units_delivered_this_run": MetadataValue.int(report.delivered_units),
            "new_intents": MetadataValue.int(report.new_intents),
            "resent_unresolved_intents": MetadataValue.int(report.resent_unresolved),
            "meter_events_delivered": MetadataValue.int(report.delivered),
            "already_in_stripe": MetadataValue.int(report.already_in_stripe),
            "rejected": MetadataValue.int(report.rejected),
            "unresolved": MetadataValue.int(report.unresolved),
            "out_of_window_units": MetadataValue.int(report.out_of_window_units),
            "stale_intents_confirmed_in_stripe": MetadataValue.int(report.stale_confirmed),
            "stale_intents_lost_and_replanned": MetadataValue.int(report.stale_lost),
            # How it went out: the API, requests that carried events, meter event sessions (no token).
            "send_api": MetadataValue.text(report.api),
            "requests": MetadataValue.int(report.requests),
            "meter_event_sessions_created": MetadataValue.int(report.sessions_created),
            "rate_limited_requests": MetadataValue.int(report.rate_limited),
            # The whole push log after this run: pushed / pending (outcome unknown) / failed.
            **{name: MetadataValue.int(value) for name, value in outbox.items()},
        }
    )
    yield AssetCheckResult(
        check_name="all_desired_usage_in_stripe",
        passed=outstanding == 0 and report.rejected == 0 and report.unresolved == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "units_outstanding": MetadataValue.int(outstanding),
            "rejected": MetadataValue.md("\n".join(f"- {d}" for d in report.rejected_details) or "none"),
            "unresolved_intents": MetadataValue.int(report.unresolved),
            "held_after_identifier_window": MetadataValue.md(
                "\n".join(f"- {d}" for d in report.stale_held_details[:50]) or "none"
            ),
            "out_of_window_units": MetadataValue.int(report.out_of_window_units),
            "out_of_window": MetadataValue.md(
                "\n".join(f"- {d}" for d in report.out_of_window_details[:50]) or "none"
            ),
        },
    )


def outbox_status(con) -> dict[str, int]:
    cursor = con.execute((SQL_DIR / "desired_equals_pushed_plus_pending.summary.sql").read_text())
    names = [d[0] for d in cursor.description]
    return {f"outbox_{name}": int(value or 0) for name, value in zip(names, cursor.fetchone(), strict=True)}
