"""What a resource handler sees (``Context``) and how URLs reach it (``Route``, ``Router``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dagster_project.stripe_emulator.clock import Clock
from dagster_project.stripe_emulator.errors import no_such
from dagster_project.stripe_emulator.settings import EmulatorSettings
from dagster_project.stripe_emulator.store import Store
from dagster_project.stripe_emulator.wire import Params


@dataclass
class Context:
    store: Store
    clock: Clock
    settings: EmulatorSettings
    method: str
    path: str
    params: Params
    args: dict[str, str] = field(default_factory=dict)
    # Extra response headers a handler wants sent (e.g. Stripe-Should-Retry on an error).
    headers: dict[str, str] = field(default_factory=dict)
    # The account's secret key the request runs under (for a stream request: the key that
    # created its session). Handlers use it to scope what they create, never to show it.
    api_key: str = ""

    def now(self) -> int:
        return self.clock.now_int()

    def only(self, allowed: Iterable[str]) -> None:
        """400 for any top-level parameter not in ``allowed`` (``expand`` is always allowed)."""
        self.params.only(allowed, self.settings.reject_unknown_params)

    def load(
        self, kind: str, object_id: str, label: str, param: str | None = None
    ) -> dict[str, Any]:
        """The stored object, or Stripe's resource_missing (404 on its URL, 400 as a parameter)."""
        obj = self.store.get(kind, object_id)
        if obj is None or (obj.get("deleted") and param is not None):
            raise no_such(label, object_id, param)
        return obj


Handler = Callable[[Context], dict[str, Any]]


@dataclass
class Route:
    method: str
    pattern: str
    handler: Handler
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern) + "$")


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            found = route.regex.match(path)
            if found:
                return route, found.groupdict()
        return None

    def path_known(self, path: str) -> bool:
        return any(route.regex.match(path) for route in self.routes)
