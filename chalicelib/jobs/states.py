"""Job states and the rules between them (pure: no AWS)."""

from __future__ import annotations

from datetime import datetime, timedelta

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
RETRYABLE = (FAILED, CANCELLED)
MAX_ERROR_HISTORY = 20


MAX_BACK_OFF_S = 900  # the longest a failed attempt waits in SQS before its next delivery


def queued_stale_after_s(timeout_s: int) -> int:
    """How long a job may sit queued before it is suspect: a back-off, a visibility timeout and a run, twice over."""
    return 2 * (MAX_BACK_OFF_S + timeout_s)


def is_stuck(
    state: str, heartbeat_at: datetime | None, timeout_s: int, now: datetime, updated_at: datetime | None = None
) -> bool:
    """Running without a heartbeat for longer than its type's timeout (a worker died mid-job), or queued
    for longer than any delivery could take (its message was lost: e.g. a crash between requeue and send)."""
    if state == RUNNING:
        return heartbeat_at is None or now - heartbeat_at > timedelta(seconds=timeout_s)
    if state == QUEUED:
        return updated_at is not None and now - updated_at > timedelta(seconds=queued_stale_after_s(timeout_s))
    return False


def can_cancel(state: str, stuck: bool) -> bool:
    return state in (QUEUED, FAILED) or (state == RUNNING and stuck)


def can_retry(state: str, stuck: bool = False) -> bool:
    """failed or cancelled; or queued with its message presumably lost (re-sending is harmless: one run wins)."""
    return state in RETRYABLE or (state == QUEUED and stuck)
