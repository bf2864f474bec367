"""Request and response models of integrity/routes.py (imported on first use)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.core.schema import Out, Strict
from chalicelib.core.validators import EntityId


class RepairIn(Strict):
    incident_id: EntityId = Field(description="An integrity incident (area backend.integrity.*) carrying a repair.")


class RepairOut(Out):
    incident_id: str
    check: str
    repair: dict[str, Any]
    changed: bool = Field(description="False: nothing to do any more (already repaired, or changed since).")
