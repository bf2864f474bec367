"""HTTP middleware: correlation ids in and out, Chalice's own errors in our envelope, and the headers
every response carries (``nosniff``; ``no-store`` on JSON unless a route chose its own caching)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalice import Response

from chalicelib.core import capacity, observability, rollups
from chalicelib.core.db import utcnow
from chalicelib.core.errors import error_envelope
from chalicelib.core.observability import choose_request_id, logger, metrics, set_request_id

_CHALICE_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    415: "unsupported_media_type",
}


def _as_envelope(response: Response) -> Response:
    """Chalice answers some errors itself ({"Code", "Message"}); rewrite them into our envelope."""
    body = response.body
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return response
    if isinstance(body, dict) and "Code" in body and "Message" in body and "error" not in body:
        code = _CHALICE_CODES.get(response.status_code, "internal_error")
        message = str(body["Message"])
        if response.status_code >= 500:
            message = "Something went wrong on our side; it has been recorded."
        response.body = json.dumps(error_envelope(code, message))
        response.headers["Content-Type"] = "application/json"
    return response


def correlation(event: Any, get_response: Any) -> Response:
    headers = {k.lower(): v for k, v in dict(event.headers or {}).items()}
    platform_id = (event.context or {}).get("requestId")
    request_id = choose_request_id(headers.get("x-request-id"), platform_id, fallback="local")
    set_request_id(request_id)
    logger.append_keys(path=event.path, method=event.method)
    try:
        response = _as_envelope(get_response(event))
    finally:
        logger.remove_keys(["path", "method"])
    response.headers["X-Request-Id"] = request_id
    return protective_headers(response)


def _header(headers: Mapping[str, str | list[str]], name: str) -> str | list[str] | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def protective_headers(response: Response) -> Response:
    """``X-Content-Type-Options: nosniff`` on every response, and ``Cache-Control: no-store`` on every
    JSON response that does not set its own: the API's JSON carries personal data (students, incidents,
    audit) or presigned URLs, which no browser or shared cache may keep."""
    headers = response.headers
    if _header(headers, "X-Content-Type-Options") is None:
        headers["X-Content-Type-Options"] = "nosniff"
    content_type = str(_header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if content_type == "application/json" and _header(headers, "Cache-Control") is None:
        headers["Cache-Control"] = "no-store"
    return response


def flush_metrics(event: Any, get_response: Any) -> Any:
    """Emit the invocation's EMF metrics and write its buffered rollups (one DynamoDB call) once it ends
    (every event type: HTTP, SQS, schedules), and on an HTTP one the DynamoDB capacity its route used."""
    if _route_of(event) is not None:
        capacity.take()  # what ran before this request (another function's work, locally) is not its
    try:
        return get_response(event)
    finally:
        try:
            if metrics.metric_set:
                observability.flush_metrics()
        except Exception:  # noqa: BLE001 - a metrics problem must never fail the invocation
            logger.warning("metrics flush failed", exc_info=True)
        try:
            route = _route_of(event)
            if route is not None:
                rollups.count_capacity(route, capacity.take(), utcnow())
            rollups.flush()
        except Exception:  # noqa: BLE001 - nor a rollup problem (those counts are lost, and logged)
            logger.warning("rollups flush failed", exc_info=True)


def _route_of(event: Any) -> str | None:
    """``GET /admin/jobs/{job_id}`` for an HTTP event (its route template, never a path with ids)."""
    context = getattr(event, "context", None)
    method = getattr(event, "method", None)
    if not isinstance(context, dict) or not method:
        return None
    resource = context.get("resourcePath")
    return f"{method} {resource}" if isinstance(resource, str) and resource else None
