"""Request and response models of system.py (imported on first use)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.core.schema import ListQuery, Out
from chalicelib.core.validators import Timestamp


class Health(Out):
    status: str


class AuditOut(Out):
    id: str
    actor: dict[str, Any]
    action: str
    target: str | None
    params: Any = None
    result: Any = None
    at: str


class AuditQuery(ListQuery):
    actor: str | None = Field(None, max_length=128, description="Actor id.")
    action: str | None = Field(None, max_length=128)
    since: Timestamp | None = None
