"""Keep secrets out of everything a person or another system reads: logs, metadata, alerts.

The values of the secret environment variables are replaced wherever they occur, and anything
shaped like a Stripe secret or restricted key is masked even when it is not ours.
"""

from __future__ import annotations

import os
import re
from typing import Any

SECRET_ENV_VARS = ("STRIPE_API_KEY", "TOLLGATE_ALERT_WEBHOOK")
MASK = "[redacted]"
_KEY_SHAPES = re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9_]+|\bwhsec_[A-Za-z0-9]+")


def redact(text: str) -> str:
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 6:
            text = text.replace(value, f"[{name} redacted]")
    return _KEY_SHAPES.sub(MASK, text)


def redact_obj(obj: Any) -> Any:
    """``redact`` applied to every string inside dicts, lists and tuples."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj
