"""Stripe's v1 wire format: bracket-nested form parameters in, typed values out.

``items[0][price]=p&metadata[a]=1&expand[]=x`` decodes to
``{"items": [{"price": "p"}], "metadata": {"a": "1"}, "expand": ["x"]}``. Every leaf stays a string;
``Params`` reads them as the types a handler expects and raises Stripe's 400 otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from dagster_project.stripe_emulator.errors import StripeError, invalid, missing, unknown_param

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def decode_form(text: str) -> dict[str, Any]:
    """Decode a form body or query string (keys may arrive percent-encoded) into nested dicts.

    Arrays stay dicts keyed "0", "1", ... (``a[]`` appends the next index): only the handler knows
    whether ``metadata[0]`` is an array element or a key, and ``Params.list`` reads either.
    """
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(text, keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(raw_key)
        if not match:
            raise StripeError(400, f"Invalid parameter name: {raw_key}", code="parameter_invalid")
        path = [match.group(1)] + _SEGMENT.findall(match.group(2))
        _insert(root, path, value)
    return root


def _insert(node: dict, path: list[str], value: str) -> None:
    for i, segment in enumerate(path):
        last = i == len(path) - 1
        if segment == "":
            # "a[]=x" appends; "a[][k]=x" starts a new element when the last one already has k.
            previous = node.get(str(len(node) - 1)) if node else None
            if last or not isinstance(previous, dict) or path[i + 1] in previous:
                segment = str(len(node))
            else:
                segment = str(len(node) - 1)
        if last:
            node[segment] = value
            return
        child = node.get(segment)
        if not isinstance(child, dict):
            child = {}
            node[segment] = child
        node = child


def canonical(params: Any) -> str:
    """A stable text of decoded parameters, for idempotency fingerprints."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


class Params:
    """Typed, validated access to one level of decoded parameters."""

    def __init__(self, data: dict[str, Any] | None, prefix: str = "") -> None:
        self.data = data or {}
        self.prefix = prefix

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def name(self, key: str) -> str:
        return _name(self.prefix, key)

    def only(self, allowed: Iterable[str], enforce: bool = True) -> None:
        if not enforce:
            return
        allowed = set(allowed) | {"expand"}
        for key in self.data:
            if key not in allowed:
                raise unknown_param(self.name(key))

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def str(
        self,
        key: str,
        *,
        required: bool = False,
        max_length: int | None = None,
        empty_is_none: bool = False,
    ) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise missing(self.name(key))
            return None
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {_show(value)}", self.name(key))
        if value == "":
            if required:
                raise missing(self.name(key))
            if empty_is_none:
                return None
        if max_length is not None and len(value) > max_length:
            raise invalid(
                f"Invalid {self.name(key)}: must be at most {max_length} characters", self.name(key)
            )
        return value

    def enum(
        self,
        key: str,
        choices: Iterable[str],
        *,
        required: bool = False,
        default: str | None = None,
    ) -> str | None:
        value = self.str(key, required=required)
        if value is None:
            return default
        choices = list(choices)
        if value not in choices:
            raise invalid(
                f"Invalid {self.name(key)}: must be one of {', '.join(choices)}", self.name(key)
            )
        return value

    def int(
        self,
        key: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
        default: int | None = None,
    ) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing(self.name(key))
            return default
        if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value.strip()):
            raise invalid(f"Invalid integer: {_show(value)}", self.name(key))
        number = int(value)
        if minimum is not None and number < minimum:
            raise invalid(
                f"Invalid {self.name(key)}: must be greater than or equal to {minimum}",
                self.name(key),
            )
        if maximum is not None and number > maximum:
            raise invalid(
                f"Invalid {self.name(key)}: must be less than or equal to {maximum}", self.name(key)
            )
        return number

    def bool(self, key: str, *, default: bool | None = None) -> bool | None:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if value in ("true", "True", "1"):
            return True
        if value in ("false", "False", "0"):
            return False
        raise invalid(f"Invalid boolean: {_show(value)}", self.name(key))

    def decimal(self, key: str, *, required: bool = False, max_places: int = 12) -> Decimal | None:
        value = self.str(key, required=required)
        if value is None:
            return None
        number = parse_decimal(value)
        if number is None:
            raise invalid(f"Invalid decimal: {value}", self.name(key))
        if -number.as_tuple().exponent > max_places:  # type: ignore[operator]
            raise invalid(
                f"Invalid {self.name(key)}: at most {max_places} decimal places are allowed",
                self.name(key),
            )
        return number

    def sub(self, key: str, *, required: bool = False) -> Params | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing(self.name(key))
            return None
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {_show(value)}", self.name(key))
        return Params(value, self.name(key))

    def list(self, key: str, *, required: bool = False) -> list[Any] | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing(self.name(key))
            return None
        if isinstance(value, dict) and all(k.isdigit() for k in value):
            value = [value[k] for k in sorted(value, key=int)]
        if not isinstance(value, list):
            raise invalid(f"Invalid array: {_show(value)}", self.name(key))
        return value

    def str_list(self, key: str) -> list[str] | None:
        values = self.list(key)
        if values is None:
            return None
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise invalid(f"Invalid string: {_show(v)}", f"{self.name(key)}[{i}]")
        return values

    def metadata(self, key: str = "metadata") -> dict[str, str | None] | None:
        """Metadata changes: key -> new value, or None to delete (Stripe's empty string)."""
        value = self.data.get(key)
        if value is None:
            return None
        if value == "":
            return {}  # caller treats an empty update of "" as "clear all"
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {_show(value)}", self.name(key))
        changes: dict[str, str | None] = {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise invalid(f"Invalid string: {_show(v)}", f"{self.name(key)}[{k}]")
            if len(k) > 40:
                raise invalid(
                    "Metadata keys can be at most 40 characters.", f"{self.name(key)}[{k}]"
                )
            if len(v) > 500:
                raise invalid(
                    "Metadata values can be at most 500 characters.", f"{self.name(key)}[{k}]"
                )
            changes[k] = v if v != "" else None
        return changes

    def expand(self) -> list[str]:
        return self.str_list("expand") or []


def apply_metadata(
    current: dict[str, str], params: Params, key: str = "metadata"
) -> dict[str, str]:
    """Stripe's merge: new keys added, ``key=""`` deletes it, ``metadata=""`` clears everything."""
    if params.raw(key) == "":
        return {}
    changes = params.metadata(key)
    if changes is None:
        return current
    merged = dict(current)
    for k, v in changes.items():
        if v is None:
            merged.pop(k, None)
        else:
            merged[k] = v
    if len(merged) > 50:
        raise invalid("Metadata can have at most 50 keys.", key)
    return merged


def parse_decimal(text: str) -> Decimal | None:
    """A finite decimal number from a string, or None."""
    try:
        number = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    if not number.is_finite():
        return None
    return number


def decimal_text(number: Decimal) -> str:
    """``Decimal('1.50')`` -> ``"1.5"``; ``Decimal('2E+1')`` -> ``"20"``: no exponent, no padding."""
    if number == number.to_integral_value():
        return str(int(number))
    text = format(number.normalize(), "f")
    return text


def json_number(number: Decimal) -> int | float:
    """A JSON number: an int when integral, else a float."""
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value
