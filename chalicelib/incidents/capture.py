"""Backend capture: unhandled route and job failures become incidents through the observability seam.

``app.py`` calls :func:`install` once, after registering the blueprints; every Lambda's module is
``app.py``, so every function (API, workers, schedules, dead letters) files its failures. Importing
this module costs nothing (no AWS clients, no models): the intake is imported on the first failure.
:func:`capture_unhandled` may raise; ``report_unhandled`` swallows and logs sink failures, so
recording an incident can never break the request or job that failed.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.observability import register_unhandled_sink


def capture_unhandled(exc: BaseException, context: dict[str, Any]) -> None:
    """The sink: file one ``source: "backend"`` incident for an unhandled error."""
    from chalicelib.incidents import service

    service.intake().capture(exc, context)


def install() -> None:
    """Register the sink (idempotent: the seam ignores a sink it already has)."""
    register_unhandled_sink(capture_unhandled)
