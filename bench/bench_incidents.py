"""Incident intake: ``POST /incidents`` through the whole app vs a bare Chalice route, side by side.

Both run in-process against moto (``mock_aws``) through ``chalice.test.Client``, in alternating rounds
(machines here are noisy). Ours: token verification, validation, scrubbing, the rate-limit counter,
grouping and storage. The baseline is the least a durable intake can do: a bare Chalice route that
parses the JSON body and writes it as one DynamoDB item. A second, clearly labelled floor row adds
what any rate-limited durable intake must pay on top: a bare route that bumps one shared fixed-window
counter (a small UpdateItem that returns the count) before its put_item. Every request is checked (202) and the stored
incidents are counted, so the figure never measures a refusal. DynamoDB calls are counted and timed at
the botocore level, splitting each side's time into the (emulated) DynamoDB share and the rest.

Times are CPU time of this process (moto runs in it too): the work done, whatever else the shared
machine runs meanwhile. The restated goals: the intake within 1.5x its floor, at most 2 DynamoDB calls
on the common path (an existing group, under its limits: the median intake here; the mean includes
the 20 groups' first intakes and the rate budget's claims), and app time outside AWS calls within 3x
a bare route's.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench._common import deployed_aws, set_env

REQUESTS = 400  # per side
ROUND = 50
AREAS = 20  # incidents spread over 20 groups: every one is stored (under the flood limit)
PER_ACTOR = 40  # fresh identity every 40 reports: under the per-actor rate limit


def _body(i: int) -> str:
    return json.dumps(
        {
            "area": f"customers.homework.upload{i % AREAS}",
            "message": "The upload failed: the server said 503.",
            "http_status": 503,
            "backend_error": {"error": {"code": "busy", "message": "try again", "details": {"request_id": f"r-{i}"}}},
            "entities": [{"type": "student", "id": f"st-{i % 7}"}],
            "location": "https://academy.example/console/customer/homework",
            "request_id": f"req-{i}",
            "context": {"attempt": i % 3, "authorization": "Bearer abcdefghijklmnop", "browser": "Firefox 140"},
        }
    )


def _bare_app(table_name: str) -> Any:
    import boto3
    from chalice import Chalice, Response

    bare = Chalice(app_name="bare")
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(table_name)

    @bare.route("/incidents", methods=["POST"])
    def intake() -> Response:
        item = bare.current_request.json_body
        incident_id = uuid.uuid4().hex
        table.put_item(Item={"id": incident_id, "body": json.dumps(item)})
        return Response(body={"id": incident_id}, status_code=202)

    return bare


def _floor_app(table_name: str, counter_table: str, window_s: int = 60, allowed: int = 1_000_000) -> Any:
    """The least a rate-limited durable intake does: one small counter UpdateItem, then one put_item."""
    import boto3
    from chalice import Chalice, Response

    floor = Chalice(app_name="floor")
    dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
    table, counters = dynamodb.Table(table_name), dynamodb.Table(counter_table)

    @floor.route("/incidents", methods=["POST"])
    def intake() -> Response:
        item = floor.current_request.json_body
        start = int(time.time() // window_s) * window_s
        hits = counters.update_item(
            Key={"key": f"ip:{floor.current_request.context['identity']['sourceIp']}#{start}"},
            UpdateExpression="ADD hits :one SET expires_at = :e",
            ExpressionAttributeValues={":one": 1, ":e": start + window_s + 3600},
            ReturnValues="UPDATED_NEW",
        )["Attributes"]["hits"]
        if hits > allowed:
            return Response(body={"error": "rate limited"}, status_code=429)
        incident_id = uuid.uuid4().hex
        table.put_item(Item={"id": incident_id, "body": json.dumps(item)})
        return Response(body={"id": incident_id}, status_code=202)

    return floor


class Calls:
    """Counts and times DynamoDB API calls made by any botocore client while active, per ``side``."""

    def __init__(self) -> None:
        self.side = "ours"
        self.count: dict[str, int] = {"ours": 0, "bare": 0, "floor": 0}
        self.per_request: dict[str, list[int]] = {"ours": [], "bare": [], "floor": []}
        self.seconds: dict[str, float] = {"ours": 0.0, "bare": 0.0, "floor": 0.0}

    def __enter__(self) -> Calls:
        from botocore.client import BaseClient

        self._orig = BaseClient._make_api_call
        calls = self

        def timed(client: Any, operation: str, params: Any) -> Any:
            if client.meta.service_model.service_name != "dynamodb":
                return calls._orig(client, operation, params)
            started = time.process_time()
            try:
                return calls._orig(client, operation, params)
            finally:
                calls.count[calls.side] += 1
                calls.seconds[calls.side] += time.process_time() - started

        BaseClient._make_api_call = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig  # type: ignore[method-assign]


def _timed(send: Callable[[int], Any], indices: range, samples: list[float], calls: Calls | None = None) -> None:
    for i in indices:
        before = calls.count[calls.side] if calls else 0
        t = time.process_time()
        resp = send(i)
        samples.append(time.process_time() - t)
        if calls:
            calls.per_request[calls.side].append(calls.count[calls.side] - before)
        if resp.status_code != 202:
            raise RuntimeError(f"intake answered {resp.status_code}: {resp.body[:300]!r}")


def run() -> list[dict]:
    set_env(log_level="ERROR")
    import boto3

    with deployed_aws():
        from chalice.test import Client

        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="bench-bare-incidents",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="bench-floor-limits",
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        from app import app
        from chalicelib.core.auth import mint_dev_token
        from chalicelib.incidents.store import Incident

        tokens = [mint_dev_token("customer", f"bench-reporter-{n}") for n in range(REQUESTS // PER_ACTOR + 1)]
        bodies = [_body(i) for i in range(REQUESTS)]
        ours: list[float] = []
        bare: list[float] = []
        floor: list[float] = []
        with (
            Client(app) as ours_client,
            Client(_bare_app("bench-bare-incidents")) as bare_client,
            Client(_floor_app("bench-bare-incidents", "bench-floor-limits")) as floor_client,
        ):

            def send_ours(i: int) -> Any:
                headers = {"Authorization": f"Bearer {tokens[i // PER_ACTOR]}", "Content-Type": "application/json"}
                return ours_client.http.post("/incidents", headers=headers, body=bodies[i])

            def send_bare(i: int) -> Any:
                return bare_client.http.post("/incidents", headers={"Content-Type": "application/json"}, body=bodies[i])

            def send_floor(i: int) -> Any:
                return floor_client.http.post("/incidents", headers={"Content-Type": "application/json"}, body=bodies[i])

            send_ours(0), send_bare(0), send_floor(0)  # warm: imports, first clients, first items
            with Calls() as calls:
                for start in range(0, REQUESTS, ROUND):
                    calls.side = "ours"
                    _timed(send_ours, range(start, start + ROUND), ours, calls)
                    calls.side = "bare"
                    _timed(send_bare, range(start, start + ROUND), bare, calls)
                    calls.side = "floor"
                    _timed(send_floor, range(start, start + ROUND), floor, calls)
            stored = Incident.count()
        assert stored >= REQUESTS, f"only {stored} incidents stored for {REQUESTS} accepted"
    ours_ms = statistics.median(ours) * 1000
    bare_ms = statistics.median(bare) * 1000
    floor_ms = statistics.median(floor) * 1000
    app_ours = (sum(ours) - calls.seconds["ours"]) / REQUESTS * 1000
    app_bare = (sum(bare) - calls.seconds["bare"]) / REQUESTS * 1000
    common = statistics.median(calls.per_request["ours"])
    return [
        {
            "name": "incidents: intake vs FLOOR (route+counter+put), CPU median",
            "value": ours_ms,
            "unit": "ms",
            "baseline": floor_ms,
            "ratio": ours_ms / floor_ms,
            "goal": 1.5,
        },
        {
            "name": "incidents: DynamoDB calls, common path (median) vs bare",
            "value": common,
            "unit": "calls",
            "baseline": statistics.median(calls.per_request["bare"]),
            "ratio": common / statistics.median(calls.per_request["bare"]),
            "goal": 2,
        },
        {
            "name": "incidents: DynamoDB calls per intake, mean, vs floor's",
            "value": calls.count["ours"] / REQUESTS,
            "unit": "calls",
            "baseline": calls.count["floor"] / REQUESTS,
        },
        {
            "name": "incidents: app time outside AWS calls vs bare route's",
            "value": app_ours,
            "unit": "ms",
            "baseline": app_bare,
            "ratio": app_ours / app_bare,
            "goal": 3,
        },
        {
            "name": "incidents: intake vs bare route + put_item (median)",
            "value": ours_ms,
            "unit": "ms",
            "baseline": bare_ms,
            "ratio": ours_ms / bare_ms,
            "goal": None,
        },
        {
            "name": "incidents: FLOOR itself vs bare route + put_item (median)",
            "value": floor_ms,
            "unit": "ms",
            "baseline": bare_ms,
            "ratio": floor_ms / bare_ms,
            "goal": None,
        },
        {
            "name": "incidents: intake p95 vs FLOOR p95",
            "value": _p(ours, 95) * 1000,
            "unit": "ms",
            "baseline": _p(floor, 95) * 1000,
            "ratio": _p(ours, 95) / _p(floor, 95),
            "goal": None,
        },
        {
            "name": "incidents: time in (emulated) DynamoDB, mean, vs floor's",
            "value": calls.seconds["ours"] / REQUESTS * 1000,
            "unit": "ms",
            "baseline": calls.seconds["floor"] / REQUESTS * 1000,
        },
    ]


def _p(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * len(ordered)))]
