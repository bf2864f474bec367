"""Students: request and response models of the students routes (imported on first use)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from chalicelib.core.schema import ListQuery, Out, Strict
from chalicelib.core.validators import EntityId, Name, QueryBool, TimeZone
from chalicelib.students.domain import MAX_QUERY, prefix_key


class StudentIn(Strict):
    customer_id: EntityId
    name: Name
    timezone: TimeZone = "UTC"


class StudentPatch(Strict):
    """An admin's edit: the ``rev`` they read and at least one field. ``active: false`` archives."""

    rev: int = Field(ge=0, description="The revision the edit is based on (409 stale_revision if it moved on).")
    name: Name | None = None
    timezone: TimeZone | None = None
    notes: str | None = Field(None, max_length=2000, description="Free text for admins; empty clears it.")
    active: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> StudentPatch:
        if not self.model_fields_set - {"rev"}:
            raise ValueError("Give at least one of name, timezone, notes, active.")
        for field in ("name", "timezone", "active"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null.")
        return self


class StudentQuery(ListQuery):
    archived: QueryBool = Field(False, description="true: only archived students; false (default): only active ones.")
    q: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_QUERY,
        description="Name prefix, case-insensitive (active students only, in name order; not with archived=true).",
    )

    @model_validator(mode="after")
    def _search(self) -> StudentQuery:
        if self.q is not None:
            if not prefix_key(self.q):
                raise ValueError("q must name at least one character that is not white space.")
            if self.archived:
                raise ValueError("q searches the active students: it cannot be combined with archived=true.")
        return self


class StudentOut(Out):
    id: str
    customer_id: str
    name: str
    timezone: str
    notes: str | None = None
    active: bool = True
    rev: int = 0
    created_at: datetime | str
