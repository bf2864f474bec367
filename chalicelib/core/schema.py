"""Base classes of the HTTP request and response models (pydantic v2).

Imported on first use, never at cold start: route modules name their models through
:func:`chalicelib.core.api.schemas`, so a Lambda that never validates a request (the job workers, the
scheduler) never imports pydantic, and the API imports it with the first request that needs it.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from chalicelib.core.validators import QueryInt


class Strict(BaseModel):
    """Base for request bodies: unknown fields are refused (400 naming them), never silently dropped,
    and no value is coerced from one JSON type to another."""

    # strict: a JSON number is never a string, a string never a number or a boolean; times and dates
    # are parsed from strings by chalicelib.core.validators' Timestamp/CalendarDate only.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True, strict=True)


class Query(BaseModel):
    """Base for query strings: unknown parameters are ignored (caches and browsers add their own).

    Every value is a string: parse numbers, booleans, times and dates with chalicelib.core.validators'
    QueryInt, QueryBool, Timestamp and CalendarDate, never pydantic's lax coercions."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


class ListQuery(Query):
    limit: QueryInt = Field(50, ge=1, le=100, description="Page size (1..100).")
    next_token: str | None = Field(None, max_length=4096, description="Cursor from the previous page.")


class Out(BaseModel):
    """Base for response bodies; their schemas are built on first use."""

    model_config = ConfigDict(defer_build=True)


class ErrorBody(Out):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(Out):
    error: ErrorBody


@functools.cache
def page_model(item: type[BaseModel]) -> type[BaseModel]:
    """``{"items": [item], "next_token": str|null}`` as a named model (``<Item>Page``)."""
    items: Any = list[item]  # type: ignore[valid-type]  # a list of the model given at run time
    return create_model(f"{item.__name__}Page", __base__=Out, items=(items, ...), next_token=(str | None, None))
