"""Stripe's error envelope, raised by handlers and rendered by the request pipeline."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error response: ``{"error": {"type", "code"?, "message", "param"?}}`` with a status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if request_id:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


    def v2_body(self) -> dict[str, Any]:
        """v2's envelope: type, code and message only."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        return {"error": error}


def invalid(
    message: str, param: str | None = None, code: str | None = "parameter_invalid"
) -> StripeError:
    return StripeError(400, message, code=code, param=param)


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def unknown_param(param: str) -> StripeError:
    return StripeError(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def no_such(kind: str, object_id: str, param: str | None = None, status: int = 404) -> StripeError:
    """``No such customer: 'cus_x'``; 404 on the object's own URL, 400 when named in a parameter."""
    return StripeError(
        status if param is None else 400,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param or "id",
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )
