"""Logger, metrics, correlation ids and the seam where unhandled errors become incidents."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from chalicelib.core.settings import get_settings

logger = Logger(service="academy-ops")
metrics = Metrics(service="academy-ops")  # its namespace comes from the settings at the first flush


def flush_metrics(raise_on_empty_metrics: bool = False) -> None:
    """Publish the metrics gathered so far (EMF on stdout), in the settings' namespace."""
    if metrics.namespace is None:
        metrics.namespace = get_settings().metrics_namespace
    metrics.flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def choose_request_id(client_value: str | None, platform_value: str | None, fallback: str) -> str:
    """A client's ``X-Request-Id`` when it is sane, else the platform's request id."""
    if client_value and _SAFE_REQUEST_ID.match(client_value):
        return client_value
    return platform_value or fallback


def set_request_id(value: str | None) -> None:
    _request_id.set(value)
    if value:
        logger.set_correlation_id(value)


def current_request_id() -> str | None:
    return _request_id.get()


# --- the incident seam -------------------------------------------------------------------------
# Something that wants to know about unhandled errors (the Incident Hub) registers a sink.
# A sink must never raise into the failing request: failures inside it are logged and swallowed.

UnhandledSink = Callable[[BaseException, dict[str, Any]], None]
_sinks: list[UnhandledSink] = []


def register_unhandled_sink(sink: UnhandledSink) -> None:
    if sink not in _sinks:
        _sinks.append(sink)


def report_unhandled(exc: BaseException, context: dict[str, Any]) -> None:
    """Log an unhandled error with full context and hand it to every registered sink."""
    logger.exception("unhandled error", extra={"context": context})
    for sink in list(_sinks):
        try:
            sink(exc, context)
        except Exception:
            logger.exception("unhandled-error sink failed", extra={"sink": getattr(sink, "__name__", repr(sink))})
