"""A local HTTP receiver on 127.0.0.1 standing in for an alert webhook."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """``status`` is what it answers (change it between requests to refuse, then accept);
    ``port`` 0 picks a free one."""

    def __init__(self, status: int = 200, port: int = 0):
        self.status = status
        self.requests: list[dict] = []  # {"path": ..., "body": parsed JSON, "status": answered}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                status = receiver.status
                receiver.requests.append({"path": self.path, "body": json.loads(body), "status": status})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def alerts(self) -> list[dict]:
        return [r["body"] for r in self.requests]

    @property
    def accepted(self) -> list[dict]:
        """The alerts it answered with a 2xx: what a real receiver would have taken."""
        return [r["body"] for r in self.requests if 200 <= r["status"] < 300]
