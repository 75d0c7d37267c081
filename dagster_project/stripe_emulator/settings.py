"""Every knob of the emulator, with Stripe's documented behaviour as the default.

Where Stripe's docs leave a behaviour open (marked UNCONFIRMED in shared/STRIPE_FACTS.md), the
emulator takes the most likely reading and makes it a field here, so a test can pin the other one.

Each field can also be set from the environment as ``TOLLGATE_EMULATOR_<FIELD NAME IN CAPITALS>``
(``EmulatorSettings.from_env()``), and most at run time through ``POST /__emulator/faults``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "TOLLGATE_EMULATOR_"


@dataclass
class EmulatorSettings:
    # -- clock ---------------------------------------------------------------------------------
    # Unix time the emulator clock starts at. When set, the clock stands still and moves only
    # through POST /__emulator/clock; when None it follows the wall clock (plus any advance).
    now: float | None = None

    # -- meter events ----------------------------------------------------------------------------
    # Identifiers are unique within a rolling window ("at least 24 hours" in Stripe's docs).
    identifier_window_seconds: int = 24 * 3600
    # error.code of the 400 for a repeated identifier (UNCONFIRMED; a third party reports this).
    duplicate_identifier_code: str = "duplicate_meter_event"
    # Timestamps must be within the past 35 days and at most 5 minutes ahead. True: 400 at once;
    # False: accept and record an asynchronous error (UNCONFIRMED which one Stripe's v1 does).
    reject_out_of_window_timestamps: bool = True
    timestamp_max_age_seconds: int = 35 * 24 * 3600
    timestamp_max_future_seconds: int = 5 * 60
    # A non-numeric value: True -> 400 at once; False -> accept, record meter_event_invalid_value.
    reject_non_numeric_values: bool = True
    # False: a value with a fractional part is rejected with a 400.
    allow_decimal_values: bool = True
    # More decimal places than this -> asynchronous meter_event_value_too_many_digits (UNCONFIRMED).
    max_value_decimal_places: int = 12
    # Events count in summaries this many seconds after receipt (Stripe aggregates asynchronously).
    processing_delay_seconds: float = 0.0
    # Cancelling an event (meter event adjustment) is only possible this long after receipt.
    adjustment_window_seconds: int = 24 * 3600

    # -- v2 meter event stream (shared/STRIPE_FACTS.md 1.5) ---------------------------------------
    # A meter event session's authentication token is valid for 15 minutes (Stripe's docs).
    meter_event_session_ttl_seconds: int = 15 * 60
    # Events per stream request (Stripe's docs: "Supports up to 100 events per request").
    meter_event_stream_max_events: int = 100

    # -- API behaviour ---------------------------------------------------------------------------
    # Unknown parameters -> 400 parameter_unknown, like Stripe.
    reject_unknown_params: bool = True
    # Idempotency keys are kept at least this long (emulator clock).
    idempotency_ttl_seconds: int = 24 * 3600

    # -- faults (apply only to paths starting with one of the comma-separated fault_path_prefix) --
    fault_path_prefix: str = "/v1/billing/meter_events,/v2/billing/meter_event_stream"
    fault_seed: int = 0
    # 429 before anything else (never stored under the idempotency key).
    rate_limit_rate: float = 0.0
    rate_limit_reason: str = "endpoint-rate"  # Stripe-Rate-Limited-Reason
    rate_limit_should_retry: bool = False  # True: also send Stripe-Should-Retry: true
    # 500 in place of execution, stored under the idempotency key like Stripe does.
    error_500_rate: float = 0.0
    # Stripe-Should-Retry on an injected 500: "" (absent), "true" or "false".
    error_500_should_retry: str = ""
    # Replays of a stored 500 carry Stripe-Should-Retry: false (a retry would only replay it).
    replayed_500_should_retry_false: bool = True
    # Slow responses: sleep slow_seconds, either after the commit or before it (while the key is
    # in flight: a concurrent retry with the same key gets 409).
    slow_rate: float = 0.0
    slow_seconds: float = 1.0
    slow_phase: str = "after_commit"  # or "before_commit"
    # Close the socket without answering: before executing, or after executing and storing the
    # result under the idempotency key (the lost-response case).
    drop_before_rate: float = 0.0
    drop_after_commit_rate: float = 0.0
    # The stream only: the session expires under the request (401 temporary_session_expired), as
    # if its 15 minutes ran out mid-push; the client must create a new session and resend.
    expire_session_rate: float = 0.0

    # -- real rate limits (token buckets, requests per second; 0 = unlimited) ----------------------
    rate_limit_meter_events_per_second: float = 0.0
    # Stream requests (each up to 100 events). Stripe: 10,000/s in live mode; in test mode and
    # sandboxes stream calls count toward the basic limit (25/s), which is what to configure here.
    rate_limit_meter_event_stream_per_second: float = 0.0
    rate_limit_read_per_second: float = 0.0
    rate_limit_write_per_second: float = 0.0

    # -- observability ---------------------------------------------------------------------------
    journal_size: int = 2000
    log_requests: bool = False

    def __post_init__(self) -> None:
        for name in (
            "rate_limit_rate",
            "error_500_rate",
            "slow_rate",
            "drop_before_rate",
            "drop_after_commit_rate",
            "expire_session_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"emulator setting {name!r} is a rate: 0..1, got {value!r}")
        if self.slow_phase not in ("after_commit", "before_commit"):
            raise ValueError(
                "emulator setting 'slow_phase' must be 'after_commit' or 'before_commit', "
                f"got {self.slow_phase!r}"
            )
        if self.error_500_should_retry not in ("", "true", "false"):
            raise ValueError(
                "emulator setting 'error_500_should_retry' must be '', 'true' or 'false', "
                f"got {self.error_500_should_retry!r}"
            )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> EmulatorSettings:
        """Defaults, then ``TOLLGATE_EMULATOR_*`` variables, then ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None and raw.strip() != "":
                values[field.name] = coerce_field(field.name, raw)
        values.update(overrides)
        return cls(**values)

    def updated(self, changes: Mapping[str, Any]) -> EmulatorSettings:
        """A copy with ``changes`` applied, each value checked and coerced to the field's type."""
        return dataclasses.replace(self, **{k: coerce_field(k, v) for k, v in changes.items()})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def env_var_names() -> dict[str, str]:
    """Field name -> environment variable name."""
    return {f.name: ENV_PREFIX + f.name.upper() for f in dataclasses.fields(EmulatorSettings)}


_TYPES = typing.get_type_hints(EmulatorSettings)


def coerce_field(name: str, value: Any) -> Any:
    """``value`` (a string from the environment, or JSON) as the type of field ``name``."""
    if name not in _TYPES:
        known = ", ".join(sorted(_TYPES))
        raise ValueError(f"unknown emulator setting {name!r}; known settings: {known}")
    hint = _TYPES[name]
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    if value is None or (
        optional and isinstance(value, str) and value.strip().lower() in ("", "none", "null")
    ):
        if optional:
            return None
        raise ValueError(f"emulator setting {name!r} cannot be empty")
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"emulator setting {name!r} must be a {hint.__name__}, got {value!r}"
        ) from None
