"""Job states and the rules between them (pure: no AWS)."""

from __future__ import annotations

from datetime import datetime, timedelta

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
RETRYABLE = (FAILED, CANCELLED)
MAX_ERROR_HISTORY = 20


def is_stuck(state: str, heartbeat_at: datetime | None, timeout_s: int, now: datetime) -> bool:
    """Running without a heartbeat for longer than its type's timeout (a worker died mid-job)."""
    if state != RUNNING:
        return False
    return heartbeat_at is None or now - heartbeat_at > timedelta(seconds=timeout_s)


def can_cancel(state: str, stuck: bool) -> bool:
    return state in (QUEUED, FAILED) or (state == RUNNING and stuck)


def can_retry(state: str) -> bool:
    return state in RETRYABLE
