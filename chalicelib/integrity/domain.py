"""Integrity sweeps, the rules (pure): what a finding is, the bounds a sweep keeps, which upload keys
belong to which row, which incidents carry a repair, and which repairs the API's role may carry out."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

ACTOR = {"role": "system", "id": "integrity-sweep"}
DEFAULT_BUDGET = 1000  # rows (or objects) read per check per run
MAX_CALLS_PER_RUN = 100  # pages per check per run, whatever they hold
FORM_LIFETIME = timedelta(hours=1)  # the longest presigned POST (videos); homework's is 15 min
MULTIPART_LIFETIME = timedelta(days=1)  # the bucket's AbortIncompleteMultipartUpload rule
INCIDENT_AREA = "backend.integrity."  # + the check's name; only the server files in backend.*
ENTITY_GONE_BY_DESIGN = {"delete_schedule"}  # a delete job outlives the schedule it removed

Repair = dict[str, Any]  # {"action": ..., what the action needs}


@dataclass
class Finding:
    check: str
    kind: str  # what is wrong, e.g. "variant_count_mismatch"
    entity: dict[str, str]  # {"type", "id"}
    detail: dict[str, Any]
    repair: Repair | None  # the exact repair ({"action", ...}); None: needs a person


@dataclass
class ScanPage:
    findings: list[Finding]
    read: int  # rows or objects read for this page
    cursor: str | None  # None: the check went through everything


Scan = Callable[[str | None, int, datetime], ScanPage]  # (cursor, budget, now) → one page
RepairFn = Callable[[Repair, datetime], bool]  # (repair, now) → True: it changed something


@dataclass
class Check:
    name: str
    description: str
    scan: Scan
    repairs: dict[str, RepairFn]  # action → repair


@dataclass
class CheckReport:
    check: str
    read: int = 0
    findings: list[Finding] = field(default_factory=list)
    repaired: int = 0
    unchanged: int = 0
    manual: int = 0
    cursor: str | None = None

    def as_dict(self, sample: int = 20) -> dict[str, Any]:
        return {
            "check": self.check,
            "read": self.read,
            "found": len(self.findings),
            "repaired": self.repaired,
            "unchanged": self.unchanged,
            "manual": self.manual,
            "complete": self.cursor is None,
            "cursor": self.cursor,
            "sample": [asdict(f) for f in self.findings[:sample]],
        }


class NotRepairable(ValueError):
    """The incident is not an integrity finding with an automatic repair."""


def encode_cursor(value: Any) -> str | None:
    if value is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None) -> Any:
    return json.loads(base64.urlsafe_b64decode(cursor.encode())) if cursor else None


# --- upload keys -----------------------------------------------------------------------------------

HOMEWORK_KEY = re.compile(r"^customers/[^/]+/students/[^/]+/homework/(?P<id>[A-Za-z0-9_-]+)(/|\.)")
VIDEO_KEY = re.compile(r"^customers/[^/]+/students/[^/]+/videos/(?P<id>[A-Za-z0-9_-]+)/")


def video_id_of(key: str) -> str | None:
    m = VIDEO_KEY.match(key)
    return m["id"] if m else None


def homework_id_of(key: str) -> str | None:
    m = HOMEWORK_KEY.match(key)
    return m["id"] if m else None


# --- repairs from incidents -----------------------------------------------------------------------


def repair_of(source: str, area: str, context: Any, checks: dict[str, Check]) -> tuple[str, Repair]:
    """The check and repair an incident carries. Only incidents the server filed itself (``source:
    backend``, area ``backend.integrity.*``: a client can never file in ``backend.``) qualify."""
    ctx = context if isinstance(context, dict) else {}
    check, fix = ctx.get("check"), ctx.get("repair")
    if source != "backend" or not area.startswith(INCIDENT_AREA) or not isinstance(check, str) or check not in checks:
        raise NotRepairable("This incident is not an integrity finding.")
    if not isinstance(fix, dict) or fix.get("action") not in checks[check].repairs:
        raise NotRepairable("This finding has no automatic repair: it needs a person.")
    return check, fix


# The objects the API's role may delete or abort (infra/iam.py, APIHandler): upload objects, never a
# worker's variant (720p, poster) or its own abandoned multipart upload. Repairs on other keys need the
# operator's credentials: `academy doctor --apply`.
_UPLOAD_OBJECT = re.compile(r"^customers/[^/]+/students/[^/]+/(homework/.+|videos/[^/]+/original(-parts)?\.[^/]+)$")
_RESUMABLE_UPLOAD = re.compile(r"^customers/[^/]+/students/[^/]+/videos/[^/]+/original-parts\.[^/]+$")
_KEY_RULES = {"delete_object": _UPLOAD_OBJECT, "abort_upload": _RESUMABLE_UPLOAD}


def refused_by_api(fix: Repair) -> str | None:
    """Why the console's button may not carry this repair out (a grant the API's role does not have), or None."""
    rule = _KEY_RULES.get(str(fix.get("action")))
    if rule is not None and not rule.match(str(fix.get("key") or "")):
        return (
            f"The console cannot carry out {fix['action']} on {fix.get('key')!r}: it is not an upload object. "
            "Run `academy doctor --apply` with operator credentials."
        )
    return None
