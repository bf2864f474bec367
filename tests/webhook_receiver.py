"""A real HTTP webhook receiver on 127.0.0.1 (a thread), for the alert engine's delivery tests and the local stack.

It records every POST (path and JSON body) and answers the statuses queued in ``answers`` (then 200).
Its own request log is silenced: the path is the webhook's secret.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.secret = "T000/B000/xoxb-not-a-real-secret-5f1c"
        self.received: list[dict[str, Any]] = []  # every request, answered with any status
        self.answers: list[int] = []  # statuses to answer next (then 200)
        self.always: int | None = None  # answer this status to everything (an outage)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/{self.secret}"

    def delivered(self) -> list[dict[str, Any]]:
        """The bodies of the requests answered 2xx (what a receiver would have shown)."""
        with self.lock:
            return [r["body"] for r in self.received if 200 <= r["status"] < 300]


@contextmanager
def serve() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = box["r"]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with rec.lock:
                status = rec.always or (rec.answers.pop(0) if rec.answers else 200)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"raw": raw.decode(errors="replace")}
                rec.received.append({"path": self.path, "body": body, "status": status})
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"error")

        def log_message(self, *args: Any) -> None:
            return  # the path is the secret

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box["r"] = Receiver(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box["r"]
    finally:
        server.shutdown()
        server.server_close()
