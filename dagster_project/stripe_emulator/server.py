"""A local, stateful Stripe subset for Tollgate, served over HTTP/1.1 on 127.0.0.1.

    from dagster_project.stripe_emulator.server import EmulatorServer, EmulatorSettings

    with EmulatorServer(state_dir) as srv:           # or srv = EmulatorServer(...).start()
        client = stripe.StripeClient(
            "sk_test_anything", base_addresses={"api": srv.url, "meter_events": srv.url}
        )

State lives in ``state_dir / "stripe_emulator.sqlite3"`` and survives restarts (``None``: in
memory). Control endpoints under ``/__emulator/`` (no auth): ``GET /health``,
``GET|POST /faults``, ``GET|DELETE /journal``, ``GET|POST /clock``, ``GET /meter_event_errors``,
``GET /meter_events``, ``GET /meter_event_stream`` (the stream's counters: requests accepted,
events received, recorded, invalid, duplicate identifiers ignored).
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from dagster_project.stripe_emulator.app import Emulator, Request
from dagster_project.stripe_emulator.clock import Clock
from dagster_project.stripe_emulator.settings import EmulatorSettings

__all__ = ["EmulatorServer", "EmulatorSettings"]

log = logging.getLogger("tollgate.stripe_emulator")

HOST = "127.0.0.1"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests.Session expects
    server_version = "TollgateStripeEmulator/1"
    timeout = 120  # an idle keep-alive connection is closed after this long
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _HTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=url.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        response = self.server.emulator.handle(request)
        if response.drop:
            # The lost response: the work is done (and stored), the client hears nothing.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the emulator logs requests itself when settings.log_requests is on


class EmulatorServer:
    """The emulator on ``127.0.0.1:port`` (0: any free port). Usable as a context manager."""

    def __init__(
        self, state_dir: Path | None, port: int = 0, settings: EmulatorSettings | None = None
    ) -> None:
        """``settings=None`` reads ``TOLLGATE_EMULATOR_*`` (``EmulatorSettings.from_env()``)."""
        settings = settings if settings is not None else EmulatorSettings.from_env()
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.port = port
        self.emulator = Emulator(self.state_dir, settings)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread: int | None = None  # ident of the thread running the serve loop
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------------------------

    def _bind(self) -> _HTTPServer:
        if self._stopped:
            raise RuntimeError(
                "this EmulatorServer was stopped; create a new one on the same state_dir"
            )
        if self._httpd is None:
            httpd = _HTTPServer((HOST, self.port), _Handler)
            httpd.emulator = self.emulator
            self._httpd = httpd
            self.port = httpd.server_address[1]
        return self._httpd

    def start(self) -> Self:
        """Serve in a background thread; returns self."""
        if self._thread is None:
            httpd = self._bind()
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"stripe-emulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
            self._loop_thread = self._thread.ident
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C (or stop() from another thread).

        On the main thread, SIGINT gets Python's default handler for the time it serves: a
        process started with SIGINT ignored (a background job of a non-interactive shell, or
        any parent that ignores it) inherits SIG_IGN, Python then never raises
        KeyboardInterrupt, and Ctrl-C would not stop the emulator. The previous handler is
        put back on return.
        """
        httpd = self._bind()
        log.info("Stripe emulator on %s (state: %s)", self.url, self.state_dir or "in memory")
        self._loop_thread = threading.get_ident()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:  # None: the handler was not set from Python
                signal.signal(signal.SIGINT, previous)
            self.stop()

    def stop(self) -> None:
        """Stop serving and close the database. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        httpd = self._httpd
        if httpd is not None:
            # shutdown() waits for the serve loop, so only call it when the loop runs elsewhere.
            if self._loop_thread is not None and self._loop_thread != threading.get_ident():
                httpd.shutdown()
            if self._thread is not None:
                self._thread.join(timeout=5)
            httpd.server_close()
        self.emulator.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base address; binds the port first if needed, so port=0 gives the real port."""
        if self._httpd is None and not self._stopped:
            self._bind()
        return f"http://{HOST}:{self.port}"

    # -- conveniences for tests (the same as the /__emulator/ endpoints) ----------------------------

    @property
    def settings(self) -> EmulatorSettings:
        return self.emulator.settings

    @property
    def clock(self) -> Clock:
        return self.emulator.clock

    def configure(self, **changes: Any) -> EmulatorSettings:
        """Change settings at run time (e.g. fault rates)."""
        return self.emulator.configure(changes)

    def queue_faults(self, **counts: int) -> None:
        """Force faults on the next matching requests, e.g. ``queue_faults(drop_after_commit=1)``."""
        self.emulator.faults.queue(counts)

    def reset_faults(self) -> None:
        self.emulator.reset_settings()

    def journal(self, since: int = 0) -> list[dict[str, Any]]:
        return self.emulator.journal.entries(since)

    def meter_event_errors(self) -> list[dict[str, Any]]:
        return self.emulator.store.meter_event_errors()

    def stream_counters(self) -> dict[str, int]:
        return self.emulator.store.counters()
