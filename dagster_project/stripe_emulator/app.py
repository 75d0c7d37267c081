"""The request pipeline, in Stripe's order, independent of HTTP:

auth -> rate limits / injected 429 -> (drop before) -> (session expiry, stream only) ->
idempotency replay or conflict -> injected 500 -> validation + execution (one transaction,
stored under the idempotency key) -> (drop after commit) -> (slow) -> response.

Validation errors (4xx from a handler) are not stored under the idempotency key; results of
execution are, including 500s on v1, as Stripe documents. On v2, a retry under the same key
completes the work instead of replaying a failure (STRIPE_FACTS.md 1.5), so a v2 500 is not
stored. The stream authenticates with a meter event session token instead of a secret key, and
v2 errors use v2's envelope ``{"error": {"type", "code", "message"}}``.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from dagster_project.stripe_emulator.clock import Clock
from dagster_project.stripe_emulator.errors import StripeError, invalid, unrecognized_url
from dagster_project.stripe_emulator.faults import Faults, Journal, RateLimits, Roll
from dagster_project.stripe_emulator.resources import (
    coupons,
    customers,
    invoice_items,
    invoices,
    meter_event_stream,
    meter_events,
    meters,
    prices,
    products,
    subscriptions,
)
from dagster_project.stripe_emulator.routing import Context, Router
from dagster_project.stripe_emulator.settings import EmulatorSettings
from dagster_project.stripe_emulator.store import MeterEventSession, Store, StoredResponse
from dagster_project.stripe_emulator.wire import Params, canonical, decode_form

log = logging.getLogger("tollgate.stripe_emulator")

API_VERSION = "2026-10-28.endive"
ACCEPTED_KEY_PREFIXES = ("sk_test_", "rk_test_")
CONTROL_PREFIX = "/__emulator/"

ROUTER = Router(
    customers.ROUTES
    + products.ROUTES
    + prices.ROUTES
    + meters.ROUTES
    + meter_events.ROUTES
    + meter_event_stream.ROUTES
    + subscriptions.ROUTES
    + invoices.ROUTES
    + coupons.ROUTES
    + invoice_items.ROUTES
)


@dataclass
class Request:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


class Emulator:
    def __init__(self, state_dir: Path | None, settings: EmulatorSettings | None = None) -> None:
        self.initial_settings = settings or EmulatorSettings()
        self.settings = self.initial_settings
        self.store = Store(state_dir)
        self.clock = Clock(self.settings.now)
        self.faults = Faults(self.settings.fault_seed)
        self.rate_limits = RateLimits()
        self.journal = Journal(self.settings.journal_size)
        self._in_flight: set[tuple[str, str]] = set()
        self._in_flight_lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.store.close()

    # -- settings at run time ---------------------------------------------------------------------

    def configure(self, changes: dict[str, Any]) -> EmulatorSettings:
        changes = dict(changes)
        if "now" in changes:
            raise ValueError("set the clock with POST /__emulator/clock, not through settings")
        self.settings = self.settings.updated(changes)
        if "fault_seed" in changes:
            self.faults.reseed(self.settings.fault_seed)
        return self.settings

    def reset_settings(self) -> EmulatorSettings:
        self.settings = self.initial_settings
        self.faults.reseed(self.settings.fault_seed)
        self.faults.clear_queue()
        return self.settings

    # -- the pipeline -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        started = time.monotonic()
        request_id = "req_" + secrets.token_hex(7)
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        if self.closed:
            return _json(
                503, {"error": {"type": "api_error", "message": "The emulator is stopping."}}
            )
        entry: dict[str, Any] = {
            "time": self.clock.now(),
            "method": request.method,
            "path": request.path,
            "idempotency_key": request.headers.get("idempotency-key"),
            "request_id": request_id,
            "fault": None,
            "replayed": False,
        }
        roll: Roll | None = None
        try:
            response, roll = self._pipeline(request, request_id, entry)
        except Exception:  # a bug in the emulator: answer like Stripe's 500, keep serving
            log.exception(
                "stripe emulator: unexpected error on %s %s", request.method, request.path
            )
            response = _error(
                StripeError(500, "An unknown error occurred", type="api_error"), request_id
            )
            entry["traceback"] = traceback.format_exc()
        response.headers.setdefault("Request-Id", request_id)
        response.headers.setdefault(
            "Stripe-Version", request.headers.get("stripe-version", API_VERSION)
        )
        if roll is not None and roll.fired:
            entry["fault"] = ",".join(roll.fired)
        entry["status"] = None if response.drop else response.status
        entry["dropped"] = response.drop
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        self.journal.add(entry)
        if self.settings.log_requests:
            log.info(
                "%s %s -> %s%s",
                request.method,
                request.path,
                "dropped" if response.drop else response.status,
                f" ({entry['fault']})" if entry["fault"] else "",
            )
        return response

    def _pipeline(
        self, request: Request, request_id: str, entry: dict[str, Any]
    ) -> tuple[Response, Roll | None]:
        settings = self.settings
        method, path = request.method.upper(), request.path.rstrip("/") or "/"
        v2 = path.startswith("/v2/")
        stream = path == meter_event_stream.STREAM_PATH

        def fail(error: StripeError) -> Response:
            return _error(error, request_id, v2)

        session: MeterEventSession | None = None
        if stream:
            session, auth_error = self._authenticate_session(request.headers)
            api_key = session.api_key if session is not None else ""
        else:
            api_key, auth_error = _authenticate(request.headers)
        if auth_error is not None:
            return fail(auth_error), None

        try:
            params = self._params(request)
        except StripeError as e:
            return fail(e), None
        entry["params"] = params

        matched = ROUTER.match(method, path)
        if matched is None:
            return fail(unrecognized_url(method, path)), None
        route, args = matched

        if not self.rate_limits.allow(method, path, settings):
            return _rate_limited(request_id, settings, "endpoint-rate", v2), None
        roll = self.faults.roll(path, settings)
        if roll.fires("rate_limit"):
            return _rate_limited(request_id, settings, settings.rate_limit_reason, v2), roll
        if roll.fires("drop_before"):
            return Response(0, b"", drop=True), roll
        if session is not None and roll.fires("expire_session"):
            # The session's 15 minutes run out now: this and every later use of it gets a 401.
            self.store.expire_session(session.id, self.clock.now())
            return fail(meter_event_stream.session_expired()), roll
        slow = roll.fires("slow")
        slow_before = slow and settings.slow_phase == "before_commit"

        key = request.headers.get("idempotency-key") if method == "POST" else None
        fingerprint = f"{method} {path} {canonical(params)}"
        if key is not None:
            if len(key) > 255:
                return fail(
                    invalid("Idempotency-Key must be at most 255 characters long.", None, None)
                ), roll
            early = self._claim_key(api_key, key, fingerprint, request_id, v2)
            if early is not None:
                entry["replayed"] = early.headers.get("Idempotent-Replayed") == "true"
                return early, roll
        try:
            if slow_before:
                time.sleep(settings.slow_seconds)
            if roll.fires("error_500"):
                response = fail(
                    StripeError(
                        500,
                        "An unknown error occurred",
                        type="api_error",
                        headers=_retry_header(settings.error_500_should_retry),
                    )
                )
                if key is not None and not v2:
                    with self.store.transaction():
                        self._store_response(api_key, key, fingerprint, response)
                return response, roll
            response, fresh = self._execute(
                route.handler, method, path, params, args, request_id, api_key, key, fingerprint, v2
            )
        finally:
            if key is not None:
                with self._in_flight_lock:
                    self._in_flight.discard((api_key, key))
        if fresh and response.status < 300 and roll.fires("drop_after_commit"):
            return Response(0, b"", drop=True), roll
        if slow and not slow_before:
            time.sleep(settings.slow_seconds)
        return response, roll

    def _params(self, request: Request) -> dict[str, Any]:
        if request.method.upper() == "POST" and request.body:
            content_type = request.headers.get("content-type", "")
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                raise StripeError(400, "The request body is not valid UTF-8.") from None
            if "application/json" in content_type:
                try:
                    data = json.loads(text or "{}")
                except json.JSONDecodeError:
                    raise StripeError(400, "Invalid JSON body.") from None
                if not isinstance(data, dict):
                    raise StripeError(400, "The JSON body must be an object.")
                return data
            return decode_form(text)
        return decode_form(request.query)

    def _claim_key(
        self, api_key: str, key: str, fingerprint: str, request_id: str, v2: bool = False
    ) -> Response | None:
        """A replay, a conflict, or None after marking the key in flight for this request."""
        settings = self.settings
        now = self.clock.now()
        with self.store.transaction():
            self.store.prune_responses(now - settings.idempotency_ttl_seconds)
            stored = self.store.stored_response(api_key, key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return _error(
                        StripeError(
                            400,
                            "Keys for idempotent requests can only be used with the same parameters "
                            "they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.",
                            type="idempotency_error",
                        ),
                        request_id,
                        v2,
                    )
                headers = dict(stored.headers)
                headers["Original-Request"] = headers.get("Request-Id", "")
                headers["Request-Id"] = request_id
                headers["Idempotent-Replayed"] = "true"
                if stored.status >= 500 and settings.replayed_500_should_retry_false:
                    headers["Stripe-Should-Retry"] = "false"
                return Response(stored.status, stored.body, headers)
            with self._in_flight_lock:
                if (api_key, key) in self._in_flight:
                    return _error(
                        StripeError(
                            409,
                            "There is currently another in-progress request using this Idempotency "
                            "Key (that probably means you submitted twice, and the other request is "
                            "still going through). Please try again later.",
                            code="idempotency_key_in_use",
                        ),
                        request_id,
                        v2,
                    )
                self._in_flight.add((api_key, key))
        return None

    def _execute(
        self,
        handler,
        method: str,
        path: str,
        params: dict[str, Any],
        args: dict[str, str],
        request_id: str,
        api_key: str,
        key: str | None,
        fingerprint: str,
        v2: bool = False,
    ) -> tuple[Response, bool]:
        """Run the handler in one transaction; store its result under the key. (response, fresh)

        A 500 is stored under the key on v1 only: v2 completes the work on a retry instead."""
        ctx = Context(
            self.store, self.clock, self.settings, method, path, Params(params), args,
            api_key=api_key,
        )
        store_failure = key is not None and not v2
        try:
            with self.store.transaction():
                body = handler(ctx)
                response = _json(200, body, ctx.headers)
                response.headers["Request-Id"] = request_id
                if key is not None:
                    self._store_response(api_key, key, fingerprint, response)
            return response, True
        except StripeError as e:
            response = _error(e, request_id, v2)
            if e.status >= 500 and store_failure:
                with self.store.transaction():
                    self._store_response(api_key, key, fingerprint, response)
            return response, False
        except Exception:
            log.exception("stripe emulator: handler failed on %s %s", method, path)
            response = _error(
                StripeError(500, "An unknown error occurred", type="api_error"), request_id, v2
            )
            if store_failure:
                with self.store.transaction():
                    self._store_response(api_key, key, fingerprint, response)
            return response, False

    def _authenticate_session(
        self, headers: dict[str, str]
    ) -> tuple[MeterEventSession | None, StripeError | None]:
        """The stream takes a meter event session token, not a secret key. Anything that is not
        a live session token (expired, unknown, or a secret key) is Stripe's 401
        temporary_session_expired: the client's answer is the same, a new session."""
        token = _bearer(headers)
        if not token:
            return None, _missing_key()
        session = self.store.session_by_token(meter_event_stream.token_digest(token))
        if session is None or session.expires_at <= self.clock.now():
            return None, meter_event_stream.session_expired()
        return session, None

    def _store_response(self, api_key: str, key: str, fingerprint: str, response: Response) -> None:
        self.store.store_response(
            api_key,
            key,
            StoredResponse(
                fingerprint=fingerprint,
                created=self.clock.now(),
                status=response.status,
                headers=dict(response.headers),
                body=response.body,
            ),
        )

    # -- control endpoints --------------------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        method, path = request.method.upper(), request.path.rstrip("/")
        try:
            body: dict[str, Any] = {}
            if request.body:
                body = json.loads(request.body.decode("utf-8") or "{}")
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
            query = dict(parse_qsl(request.query))
            name = path[len(CONTROL_PREFIX) :]
            if name == "health" and method == "GET":
                return _json(200, {"ok": True, "now": self.clock.now()})
            if name == "faults" and method == "GET":
                return _json(200, self._fault_state())
            if name == "faults" and method == "POST":
                if body.pop("reset", False):
                    self.reset_settings()
                queued = body.pop("next", None)
                if body:
                    self.configure(body)
                if queued is not None:
                    if not isinstance(queued, dict):
                        raise ValueError("'next' must be an object of fault -> count")
                    self.faults.queue(queued)
                return _json(200, self._fault_state())
            if name == "journal" and method == "GET":
                since = int(query.get("since", 0))
                return _json(200, {"object": "list", "data": self.journal.entries(since)})
            if name == "journal" and method == "DELETE":
                self.journal.clear()
                return _json(200, {"object": "list", "data": []})
            if name == "clock" and method == "GET":
                return _json(200, {"now": self.clock.now(), "frozen": self.clock.frozen})
            if name == "clock" and method == "POST":
                if "set" in body:
                    self.clock.set(float(body["set"]))
                if "advance_seconds" in body:
                    self.clock.advance(float(body["advance_seconds"]))
                return _json(200, {"now": self.clock.now(), "frozen": self.clock.frozen})
            if name == "meter_event_stream" and method == "GET":
                return _json(200, self.store.counters())
            if name == "meter_event_errors" and method == "GET":
                return _json(200, {"object": "list", "data": self.store.meter_event_errors()})
            if name == "meter_events" and method == "GET":
                events = self.store.meter_events(
                    event_name=query.get("event_name"),
                    customer=query.get("customer"),
                    identifier=query.get("identifier"),
                )
                data = [
                    {
                        **e.response,
                        "meter": e.meter_id,
                        "customer": e.customer,
                        "value": e.value,
                        "status": e.status,
                        "error_code": e.error_code,
                        "received_at": e.received_at,
                        "processed_at": e.processed_at,
                        "cancelled_at": e.cancelled_at,
                        "api": e.api,
                    }
                    for e in events
                ]
                return _json(200, {"object": "list", "data": data})
        except (ValueError, TypeError, json.JSONDecodeError) as e:
            return _json(400, {"error": {"type": "invalid_request_error", "message": str(e)}})
        return _json(
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": f"No emulator control endpoint {method} {path}.",
                }
            },
        )

    def _fault_state(self) -> dict[str, Any]:
        return {"settings": self.settings.as_dict(), "next": self.faults.queued()}


def _bearer(headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    key = ""
    if auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    elif auth.lower().startswith("basic "):
        try:
            key = base64.b64decode(auth[6:].strip()).decode("utf-8").split(":", 1)[0]
        except ValueError:
            key = ""
    return key


def _missing_key() -> StripeError:
    return StripeError(
        401,
        "You did not provide an API key. You need to provide your API key in the "
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
        "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details.",
    )


def _authenticate(headers: dict[str, str]) -> tuple[str, StripeError | None]:
    key = _bearer(headers)
    if not key:
        return "", _missing_key()
    if not key.startswith(ACCEPTED_KEY_PREFIXES):
        shown = key[:8] + "*" * 4 + key[-4:] if len(key) > 12 else "****"
        return "", StripeError(
            401,
            f"Invalid API Key provided: {shown}. The emulator accepts test-mode keys only "
            "(sk_test_... or rk_test_...).",
            code="api_key_invalid" if not key.startswith("sk_live_") else "api_key_expired",
        )
    return key, None


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body).encode("utf-8"), dict(headers or {}))


def _error(error: StripeError, request_id: str, v2: bool = False) -> Response:
    body = error.v2_body() if v2 else error.body(request_id)
    return _json(error.status, body, error.headers)


def _retry_header(value: str) -> dict[str, str]:
    value = (value or "").strip().lower()
    return {"Stripe-Should-Retry": value} if value in ("true", "false") else {}


def _rate_limited(
    request_id: str, settings: EmulatorSettings, reason: str, v2: bool = False
) -> Response:
    error = StripeError(
        429,
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        type="rate_limit" if v2 else "invalid_request_error",
        code="rate_limit",
        headers={
            "Stripe-Rate-Limited-Reason": reason,
            **(_retry_header("true") if settings.rate_limit_should_retry else {}),
        },
    )
    return _error(error, request_id, v2)
