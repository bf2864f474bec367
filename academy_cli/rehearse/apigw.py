"""API Gateway (REST API, Lambda proxy integration) in front of the deployed functions.

Routes are the deployed RestApi's resources and methods (read from the emulator), not the app's.
An HTTP request becomes a proxy event (payload v1: ``headers`` and ``multiValueHeaders``, query
strings, path parameters, ``requestContext`` with a request id and the source IP; a body whose
``Content-Type`` is one of the API's binary media types arrives base64-encoded), and the function's
reply becomes the HTTP response. API Gateway's own answers are kept: no such resource or method →
403 ``Missing Authentication Token``; a body over 10 MB → 413; no reply within 29 s → 504; a
function error or a malformed reply → 502.

Both ways a deployment is reached are served on one port: under the stage path, as the default
``https://<id>.execute-api.<region>.amazonaws.com/<stage>/…`` endpoint serves it (``event.path``
without the stage, ``requestContext.path`` with it), and at the root, as a custom domain with an
empty base-path mapping serves it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from academy_cli.rehearse.functions import Function, FunctionError
from academy_cli.rehearse.stack import Deployed, Route

log = logging.getLogger("academy.rehearse")
PAYLOAD_LIMIT = 10 * 1024 * 1024  # API Gateway REST: 10 MB request payload
INTEGRATION_TIMEOUT_S = 29.0


class Matcher:
    """Resource paths (``/a/{b}``, ``/a/{proxy+}``) matched as API Gateway does: literal parts win."""

    def __init__(self, routes: list[Route]) -> None:
        compiled = []
        for route in routes:
            parts = [p for p in route.path.split("/") if p]
            pattern = ""
            for part in parts:
                if part.startswith("{") and part.endswith("+}"):
                    pattern += f"/(?P<{_group(part[1:-2])}>.+)"
                elif part.startswith("{") and part.endswith("}"):
                    pattern += f"/(?P<{_group(part[1:-1])}>[^/]+)"
                else:
                    pattern += "/" + re.escape(part)
            literal = sum(1 for p in parts if not p.startswith("{"))
            compiled.append((-literal, -len(parts), re.compile(f"^{pattern or '/'}$"), route, parts))
        compiled.sort(key=lambda c: (c[0], c[1]))
        self._compiled = compiled

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        for _, _, regex, route, parts in self._compiled:
            m = regex.match(path)
            if m:
                names = {_group(p.strip("{}+")): p.strip("{}+") for p in parts if p.startswith("{")}
                return route, {names[k]: unquote(v) for k, v in m.groupdict().items()}
        return None


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def is_binary(content_type: str, binary_types: list[str]) -> bool:
    ct = content_type.split(";")[0].strip().lower()
    for t in binary_types:
        t = t.replace("~1", "/").lower()
        if t == "*/*" or t == ct or (t.endswith("/*") and ct.startswith(t[:-1])):
            return True
    return False


class Gateway:
    """The HTTP front: one threaded server on ``port`` for both the stage path and the root."""

    def __init__(
        self, deployed: Deployed, functions: dict[str, Function], host: str, port: int, account: str, region: str
    ) -> None:
        self.deployed = deployed
        self.functions = functions
        self.matcher = Matcher(deployed.routes)
        self.account = account
        self.region = region
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="apigw-invoke")
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "rehearse-apigw"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                gateway.serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer.request_queue_size = 256
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="apigw", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- one request ------------------------------------------------------------------------

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        request_id = str(uuid.uuid4())
        length = int(h.headers.get("Content-Length") or 0)
        if length > PAYLOAD_LIMIT:
            h.close_connection = True
            return self._reply(h, 413, {"message": "Request Too Long"}, request_id)
        body = h.rfile.read(length) if length else b""
        split = urlsplit(h.path)
        raw_path = split.path or "/"
        stage = self.deployed.api_stage
        if raw_path == f"/{stage}" or raw_path.startswith(f"/{stage}/"):
            path = raw_path[len(stage) + 1 :] or "/"
        else:
            path = raw_path  # the root: a custom domain with an empty base-path mapping
        found = self.matcher.match(path)
        method = h.command.upper()
        target = None
        if found is not None:
            route, params = found
            target = route.methods.get(method) or route.methods.get("ANY")
        if found is None or target is None:
            return self._reply(h, 403, {"message": "Missing Authentication Token"}, request_id)
        event = self.event(h, route, params, path, raw_path, split.query, body, request_id)
        fn = self.functions[target]
        future = self.pool.submit(fn.invoke, event, request_id)
        try:
            result = future.result(timeout=INTEGRATION_TIMEOUT_S)
        except FutureTimeout:
            return self._reply(h, 504, {"message": "Endpoint request timed out"}, request_id)
        except FunctionError:
            return self._reply(h, 502, {"message": "Internal server error"}, request_id)
        except Exception:  # the rehearsal's own failure: answered as API Gateway would, and logged
            log.exception("invoking %s failed", target)
            return self._reply(h, 500, {"message": "Internal server error"}, request_id)
        try:
            status, headers, payload = self.response(result)
        except (TypeError, ValueError, KeyError):
            return self._reply(h, 502, {"message": "Internal server error"}, request_id)
        self._send(h, status, headers, payload, request_id)

    def event(
        self, h: Any, route: Route, params: dict[str, str], path: str, raw_path: str, query: str, body: bytes, request_id: str
    ) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for name, value in h.headers.items():
            multi_headers.setdefault(name, []).append(value)
        multi_query = {k: v for k, v in parse_qs(query, keep_blank_values=True).items()} if query else {}
        content_type = h.headers.get("Content-Type", "")
        binary = bool(body) and is_binary(content_type, self.deployed.binary_media_types)
        now = datetime.now(UTC)
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": h.command.upper(),
            "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": route.path,
                "resourcePath": route.path,
                "httpMethod": h.command.upper(),
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": raw_path,
                "accountId": self.account,
                "protocol": "HTTP/1.1",
                "stage": self.deployed.api_stage,
                "domainPrefix": self.deployed.api_id,
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": {"sourceIp": h.client_address[0], "userAgent": h.headers.get("User-Agent")},
                "domainName": h.headers.get("Host", ""),
                "apiId": self.deployed.api_id,
            },
            "body": (base64.b64encode(body).decode() if binary else body.decode("utf-8", errors="replace")) if body else None,
            "isBase64Encoded": binary,
        }

    @staticmethod
    def response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        if not isinstance(result, dict) or "statusCode" not in result:
            raise ValueError("malformed Lambda proxy response")
        headers: list[tuple[str, str]] = []
        multi = result.get("multiValueHeaders") or {}
        for name, value in (result.get("headers") or {}).items():
            if name not in multi:
                headers.append((name, str(value)))
        for name, values in multi.items():
            headers.extend((name, str(v)) for v in values)
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return int(result["statusCode"]), headers, payload

    def _reply(self, h: Any, status: int, body: dict[str, Any], request_id: str) -> None:
        payload = json.dumps(body).encode()
        self._send(
            h, status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", _error_type(status))], payload, request_id
        )

    @staticmethod
    def _send(h: Any, status: int, headers: list[tuple[str, str]], payload: bytes, request_id: str) -> None:
        h.send_response(status)
        names = {n.lower() for n, _ in headers}
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                h.send_header(name, value)
        h.send_header("x-amzn-RequestId", request_id)
        if "date" not in names:
            h.send_header("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(payload)


def _error_type(status: int) -> str:
    return {
        403: "MissingAuthenticationTokenException",
        413: "RequestEntityTooLargeException",
        502: "InternalServerErrorException",
        504: "IntegrationTimeoutException",
    }.get(status, "ApiGatewayException")
