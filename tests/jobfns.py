"""Job functions whose behaviour a test controls (registered as job types by the tests)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from chalicelib.jobs.errors import PermanentJobError

calls: Counter[str] = Counter()
fail_times: dict[str, int] = {}
_lock = threading.Lock()


def flaky(job: Any, ctx: Any) -> dict[str, Any]:
    """Fails ``fail_times[key]`` times with a transient error, then succeeds."""
    key = job.payload["key"]
    with _lock:
        calls[key] += 1
        n = calls[key]
    if n <= fail_times.get(key, 0):
        raise ConnectionError(f"transient failure {n} for {key}")
    return {"key": key, "calls": n}


def poison(job: Any, ctx: Any) -> None:
    calls[job.payload["key"]] += 1
    raise RuntimeError("poison: this job always fails")


def bad_input(job: Any, ctx: Any) -> None:
    calls[job.payload["key"]] += 1
    raise PermanentJobError("the input is corrupt")


def reset() -> None:
    calls.clear()
    fail_times.clear()
