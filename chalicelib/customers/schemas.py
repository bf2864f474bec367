"""Customers: request and response models of the customers routes (imported on first use)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from chalicelib.core.schema import Out, Strict
from chalicelib.core.validators import EntityId, Name
from chalicelib.customers.domain import MAX_EMAIL, normal_email

Email = Annotated[
    str,
    Field(max_length=MAX_EMAIL, json_schema_extra={"format": "email"}),
    AfterValidator(normal_email),
]


class CustomerIn(Strict):
    customer_id: EntityId = Field(description="The sign-in identity's customer id (their students' customer_id).")
    display_name: Name
    contact_email: Email


class CustomerPatch(Strict):
    """An admin's edit: the ``rev`` they read and at least one field."""

    rev: int = Field(ge=0, description="The revision the edit is based on (409 stale_revision if it moved on).")
    display_name: Name | None = None
    contact_email: Email | None = None

    @model_validator(mode="after")
    def _something(self) -> CustomerPatch:
        if not self.model_fields_set - {"rev"}:
            raise ValueError("Give at least one of display_name, contact_email.")
        for field in ("display_name", "contact_email"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null.")
        return self


class CustomerOut(Out):
    customer_id: str
    display_name: str
    contact_email: str
    rev: int = 0
    created_at: datetime | str
