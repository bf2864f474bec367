"""Reusable field types for request models (pydantic v2)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema

from chalicelib.core.db import ENTITY_ID

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


# --- strict scalars: what the contract allows, nothing pydantic's lax mode would coerce -------------
# (lax mode takes 1767625200 or "1767625200" as a time, 0 or "0" as 1970-01-01, "5_0" as 50, "yes" as
# true). Patterns are fullmatched and ASCII-only: "$" passes a trailing newline, "\\d" Arabic digits.

_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})", re.IGNORECASE
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]{1,9}")


def _timestamp(value: Any) -> Any:
    if isinstance(value, datetime):  # built in code, not from a request
        return value
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise ValueError("must be an ISO 8601 timestamp string with Z or an offset, e.g. 2026-01-05T15:00:00Z")
    text = value.upper()
    if "." in text:  # Python keeps microseconds: cut nanoseconds rather than refuse them
        head, _, tail = text.partition(".")
        digits = re.match(r"[0-9]+", tail).group()  # type: ignore[union-attr]
        text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    return datetime.fromisoformat(text)  # ValueError (month 13, offset +99:00…) → 400 naming the field


def _calendar_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a calendar date string YYYY-MM-DD")
    return date.fromisoformat(value)


def _query_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written in digits, e.g. 50")
    return int(value)


def _query_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


Timestamp = Annotated[datetime, BeforeValidator(_timestamp), WithJsonSchema({"type": "string", "format": "date-time"})]
CalendarDate = Annotated[date, BeforeValidator(_calendar_date), WithJsonSchema({"type": "string", "format": "date"})]
QueryInt = Annotated[int, BeforeValidator(_query_int)]  # a query string's number: digits only ("5", not "5.0" or "+5")
QueryBool = Annotated[bool, BeforeValidator(_query_bool), WithJsonSchema({"type": "boolean"})]  # "true" | "false"
