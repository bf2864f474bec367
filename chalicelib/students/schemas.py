"""Students: request and response models of the students routes (imported on first use)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.core.schema import Out, Strict
from chalicelib.core.validators import EntityId, Name, TimeZone


class StudentIn(Strict):
    customer_id: EntityId
    name: Name
    timezone: TimeZone = "UTC"


class StudentOut(Out):
    id: str
    customer_id: str
    name: str
    timezone: str
    created_at: datetime | str
