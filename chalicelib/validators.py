"""Reusable field types for request models (pydantic v2)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from chalicelib.db import ENTITY_ID

_ID = ENTITY_ID


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


def _id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("must be 1-64 characters of letters, digits, '-' or '_'")
    return value


# The documented schemas say what the validators accept, so clients (and the API fuzzer) can send valid input.
def _zone_schema(schema: dict[str, object]) -> None:
    """Listed when a schema is generated (not at import: walking the zone database costs a cold start)."""
    schema.update({"type": "string", "enum": sorted(available_timezones()), "description": "IANA time zone, e.g. Europe/London."})
    schema.pop("maxLength", None)


TimeZone = Annotated[str, Field(max_length=64, json_schema_extra=_zone_schema), AfterValidator(_zone)]
EntityId = Annotated[
    str, AfterValidator(_id), WithJsonSchema({"type": "string", "pattern": _ID.pattern, "minLength": 1, "maxLength": 64})
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=5000)]
CalendarDate = date
