"""The load's floor: bare routes that make the same AWS calls as the app, in the same process and server.

``academy up --load-floor-port N`` (what ``python -m loadtest`` starts) does two things in the stack's
process, besides serving the app:

- **records** the AWS calls of the app's request threads. Every call boto3 and pynamodb make goes
  through botocore's ``BaseClient._make_api_call``; each load operation (an incident report, an
  attendance write, an admin list, an optimise request) keeps a reservoir sample of its requests:
  the calls' (service, operation, parameters) and the answer's status;
- **serves the floor** on port N with the same threaded HTTP server (``chalice.local``'s, keep-alive,
  the same backlog): a request of an operation replays one sampled request's calls against the same
  emulator with the same clients (a refused conditional write or a cancelled transaction costs what
  it cost the app) and answers with that request's status and the fields the load's clients read.
  No auth, no validation, no app: what is left of a request when the application's own work is gone.

A replayed ``SendMessage`` goes to a queue of its own (the floor's jobs must not run in the workers).
The load counts each round of the app's traffic back before the floor's round (``loadtest/runner.py``):
the floor's replays write the same items again.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from uuid import uuid4

KEEP = 200  # requests sampled per operation (a reservoir over the whole run)
FLOOR_QUEUE = "academy-load-floor"

# The load's operations by (method, path); everything else (fixtures, count-back) is not sampled.
OPERATIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"^/incidents$"), "incident"),
    ("PUT", re.compile(r"^/admin/schedules/[^/]+/attendance/[^/]+/[^/]+$"), "attendance"),
    ("POST", re.compile(r"^/admin/media/[^/]+/optimise$"), "optimise"),
    ("GET", re.compile(r"^/admin/(students|schedules|incidents|jobs|media)\?limit=20$"), "list:{0}"),
)


def operation(method: str, path: str) -> str | None:
    """The load operation a request is (``list:<collection>`` for the admin lists), or None."""
    for m, pattern, name in OPERATIONS:
        match = pattern.match(path) if m == method else None
        if match:
            return name.format(*match.groups())
    return None


Call = tuple[str, str, dict[str, Any]]  # (service, operation, parameters)


@dataclass
class Sample:
    status: int
    calls: list[Call]


@dataclass
class Recorder:
    """Reservoir samples of each load operation's requests: their AWS calls and status."""

    keep: int = KEEP
    samples: dict[str, list[Sample]] = field(default_factory=lambda: defaultdict(list))
    seen: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def begin(self, method: str, path: str) -> tuple[str, int] | None:
        """Start recording this thread's request if it is sampled: (operation, slot)."""
        op = operation(method, path)
        if op is None:
            return None
        with self._lock:
            self.seen[op] += 1
            n, kept = self.seen[op], len(self.samples[op])
            slot = kept if kept < self.keep else self.rng.randrange(n)
        if slot >= self.keep:
            return None
        self._local.calls = []
        return op, slot

    def call(self, service: str, name: str, params: dict[str, Any]) -> None:
        calls: list[Call] | None = getattr(self._local, "calls", None)
        if calls is not None:
            calls.append((service, name, copy.deepcopy(params)))

    def end(self, taken: tuple[str, int], status: int) -> None:
        op, slot = taken
        sample = Sample(status, self._local.calls)
        self._local.calls = None
        with self._lock:
            kept = self.samples[op]
            if slot < len(kept):
                kept[slot] = sample
            else:
                kept.append(sample)

    def pick(self, op: str) -> Sample | None:
        with self._lock:
            kept = self.samples.get(op) or []
            return self.rng.choice(kept) if kept else None

    def install(self) -> None:
        """Record from now on: wrap botocore's API call and chalice local's request handling (idempotent)."""
        import botocore.client
        from chalice.local import LocalGateway

        if getattr(botocore.client.BaseClient._make_api_call, "_floor_recorder", None) is not None:
            return
        make_api_call = botocore.client.BaseClient._make_api_call
        handle_request = LocalGateway.handle_request
        recorder = self

        def recorded_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            recorder.call(client.meta.service_model.service_name, operation_name, api_params)
            return make_api_call(client, operation_name, api_params)

        def recorded_request(gateway: Any, method: str, path: str, headers: Any, body: bytes | None) -> Any:
            taken = recorder.begin(method, path)
            if taken is None:
                return handle_request(gateway, method, path, headers, body)
            status = 500
            try:
                response = handle_request(gateway, method, path, headers, body)
                status = int(response["statusCode"])
                return response
            finally:
                recorder.end(taken, status)

        recorded_call._floor_recorder = self  # type: ignore[attr-defined]
        botocore.client.BaseClient._make_api_call = recorded_call  # type: ignore[method-assign]
        LocalGateway.handle_request = recorded_request  # type: ignore[method-assign]


class Replayer:
    """Replays a sample's calls with one client per service, shared by the threads (as the app's are)."""

    def __init__(self, region: str, floor_queue_url: str) -> None:
        import boto3

        session = boto3.session.Session()
        self.queue_url = floor_queue_url
        self.clients = {s: session.client(s, region_name=region) for s in ("dynamodb", "sqs", "s3")}  # type: ignore[call-overload]

    def replay(self, sample: Sample) -> None:
        from botocore.exceptions import ClientError

        for service, name, params in sample.calls:
            if service == "sqs" and "QueueUrl" in params:
                params = {**params, "QueueUrl": self.queue_url}
            client = self.clients.get(service)
            if client is None:
                continue
            try:
                client._make_api_call(name, params)
            except ClientError:  # a refused condition or a cancelled transaction: what the app paid too
                pass


def _answer(op: str, status: int, body: bytes | None) -> dict[str, Any]:
    """The fields the load's clients read from an operation's answer."""
    if status >= 300:
        return {"code": "floor"}
    if op == "incident":
        return {"id": str(uuid4()), "stored": True}
    if op == "attendance":
        sent = json.loads(body or b"{}")
        return {"status": sent.get("status")}
    if op == "optimise":
        return {"job_id": str(uuid4())}
    return {"items": []}


def handler_class(recorder: Recorder, replayer: Replayer) -> Callable[..., BaseHTTPRequestHandler]:
    class FloorHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length) if length > 0 else None
            op = operation(self.command, self.path)
            sample = recorder.pick(op) if op is not None else None
            if op is None or sample is None:
                status, payload = 404, {"code": "not_a_floor_operation", "path": self.path}
            else:
                replayer.replay(sample)
                status, payload = sample.status, _answer(op, sample.status, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    return FloorHandler


def start(port: int, host: str, region: str, spawn: Callable[[str, Callable[[], None]], None]) -> tuple[Recorder, Any]:
    """Record the app's calls and serve the floor on ``host:port`` (a thread from ``spawn``): (recorder, server)."""
    import boto3
    from chalice.local import ThreadedHTTPServer

    recorder = Recorder()
    recorder.install()
    queue_url = boto3.session.Session().client("sqs", region_name=region).create_queue(QueueName=FLOOR_QUEUE)["QueueUrl"]
    server = ThreadedHTTPServer((host, port), handler_class(recorder, Replayer(region, queue_url)))
    spawn("load-floor", server.serve_forever)
    return recorder, server
