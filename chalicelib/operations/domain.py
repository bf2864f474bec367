"""Operating jobs, the rules (pure): what an admin may do to a job in which state, the listing filters,
the bounds every read keeps, and the merged list's cursor."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import Conflicting, DomainError, Invalid
from chalicelib.jobs import states

STUCK = "stuck"  # a pseudo-state for listing: running with a stale heartbeat, or queued with its message lost
ATTENTION_STATES = (states.FAILED, states.RUNNING, states.QUEUED)  # the default list, merged newest first
ORPHAN_TYPE = "unknown"  # the ledger's type for messages that named no known job
JOB_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")  # ULID
SAMPLE_SIZE = 10
DRY_RUN_WINDOW = 1000  # ledger entries a dry-run call examines (one query page, ≤ 1 MB)
DLQ_SCAN_LIMIT = 100  # dead letters examined per clean-up (bounded receive → delete)
COUNT_CAP = 50_000  # per state: beyond this the summary says "at least"
# Succeeded and cancelled jobs pile up for ever and need no attention: counting them exactly would read
# the whole history on every refresh of the Jobs page (every index item is a full ledger row).
SETTLED_COUNT_CAP = 1_000
STUCK_WINDOW = 5  # the summary's stuck count: the oldest running and queued entries it examines (each)
MAX_PAYLOAD_CHARS = 8192
DEFAULT_TIMEOUT_S = 300  # a ledger row written before its type's timeout was recorded

_CONFLICT_CODES = {
    states.QUEUED: "already_queued",
    states.RUNNING: "job_running",
    states.SUCCEEDED: "already_succeeded",
    states.CANCELLED: "already_cancelled",
    states.FAILED: "job_failed",
}


@dataclass(frozen=True)
class Limits:
    """How far the summary counts per state before it says "at least"."""

    count_cap: int = COUNT_CAP  # queued, running, failed
    settled_count_cap: int = SETTLED_COUNT_CAP  # succeeded, cancelled

    def cap(self, state: str) -> int:
        return self.settled_count_cap if state in (states.SUCCEEDED, states.CANCELLED) else self.count_cap


class EnqueueFailed(DomainError):
    """The job's fresh message could not be sent (the job is failed again and can be retried)."""

    status, code = 503, "enqueue_failed"


def actions(state: str, stuck: bool, job_type: str, known: Iterable[str]) -> dict[str, bool]:
    """What an admin may do next to a job in ``state``."""
    return {"retry": states.can_retry(state, stuck) and job_type in known, "cancel": states.can_cancel(state, stuck)}


def conflict(job_id: str, state: str, stuck: bool, action: str) -> Conflicting:
    """The 409 for a job in a state where ``action`` ("retried", "cancelled") is not possible."""
    what = "stuck " if stuck else ""
    return Conflicting(
        f"Job {job_id} is {what}{state}: it cannot be {action} now.",
        code=_CONFLICT_CODES.get(state, "invalid_state"),
        details={"job_id": job_id, "state": state, "stuck": stuck},
    )


def not_retryable(job_id: str, job_type: str) -> Conflicting:
    return Conflicting(
        f"Job {job_id} has type {job_type!r}, which no worker runs: it cannot be retried.",
        code="not_retryable",
        details={"job_id": job_id, "type": job_type},
    )


def check_type(job_type: str | None, known: Iterable[str], field: str = "query.type") -> None:
    """A type filter names a registered job type (or the orphans' ``unknown``)."""
    names = set(known)
    if job_type is None or job_type in names or job_type == ORPHAN_TYPE:
        return
    listed = sorted([*names, ORPHAN_TYPE])
    raise Invalid(
        f"Unknown job type {job_type!r}.",
        details={"fields": {field: f"must be one of {', '.join(listed)}"}, "known_types": listed},
    )


def check_bulk_filter(apply: bool, job_type: str | None, error_contains: str | None) -> None:
    """Applying a bulk retry needs a filter: no blind retry-all."""
    if apply and not (job_type or error_contains):
        raise Invalid(
            "Applying a bulk retry needs a filter: type and/or error_contains (preview without apply first).",
            code="filter_required",
            details={"fields": {"type": "type or error_contains is required with apply", "error_contains": "see type"}},
        )


def error_matches(needle: str | None, error_parts: Sequence[str]) -> bool:
    """Case-insensitive: ``needle`` in the last error's type or message (no needle: everything)."""
    wanted = (needle or "").casefold()
    return not wanted or wanted in " ".join(error_parts).casefold()


def bounded_payload(payload: Any) -> Any:
    """The payload, or a summary of it when it is too long to show."""
    text = json.dumps(payload, default=str)
    if len(text) <= MAX_PAYLOAD_CHARS:
        return payload
    keys = sorted(payload) if isinstance(payload, dict) else []
    return {"truncated": True, "chars": len(text), "keys": keys[:50]}


# --- the merged list's cursor: where each attention state stopped -----------------------------------

Positions = dict[str, str | None]  # state → last id taken ("" not started, None finished)
_MALFORMED = {"fields": {"next_token": "malformed"}}


def invalid_token(details: dict[str, Any] | None = None) -> Invalid:
    return Invalid("next_token is not valid.", code="invalid_next_token", details=details)


def encode_positions(positions: Positions) -> str:
    raw = json.dumps({"merged": positions}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_positions(token: str | None) -> Positions:
    if not token:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid_token(_MALFORMED) from exc
    positions = value.get("merged") if isinstance(value, dict) else None
    if not isinstance(positions, dict) or not all(k in ATTENTION_STATES and _position_ok(v) for k, v in positions.items()):
        raise invalid_token(_MALFORMED)
    return positions


def _position_ok(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, str) and bool(JOB_ID.match(v)))
