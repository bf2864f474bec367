"""Regressions for what the API fuzzer (tests/e2e/test_api_fuzz.py) found, pinned in-process."""

from __future__ import annotations

import json
import re
from zoneinfo import available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from chalicelib.core.api import RouteSpec, openapi_document
from chalicelib.core.validators import EntityId, TimeZone


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_audit_since_outside_the_ulid_time_range_is_not_a_500(client, tokens):
    """Found: ``GET /admin/audit?since=0363-04-15T10:37:20.932Z`` was a 500 (negative ULID timestamp)."""
    created = client.http.post(
        "/admin/students", headers=_headers(tokens.admin), body=json.dumps({"customer_id": "cust-a", "name": "Ada"})
    )
    assert created.status_code == 201
    old = client.http.get("/admin/audit?since=0363-04-15T10:37:20.932Z", headers=_headers(tokens.admin))
    assert old.status_code == 200, old.body
    assert [e["action"] for e in old.json_body["items"]] == ["student.create"]
    future = client.http.get("/admin/audit?since=9999-12-31T23:59:59Z", headers=_headers(tokens.admin))
    assert future.status_code == 200 and future.json_body["items"] == []


class _Ids(BaseModel):
    id: EntityId
    zone: TimeZone = "UTC"


SCHEMA = _Ids.model_json_schema()


@settings(max_examples=200, deadline=None)
@given(st.from_regex(SCHEMA["properties"]["id"]["pattern"], fullmatch=True))
def test_every_documented_entity_id_is_accepted(value: str) -> None:
    """Found: ids were documented as any string, so every generated request was refused (400)."""
    assert _Ids(id=value).id == value


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80).filter(lambda v: not re.fullmatch(SCHEMA["properties"]["id"]["pattern"], v)))
def test_every_undocumented_entity_id_is_refused(value: str) -> None:
    try:
        _Ids(id=value)
    except ValidationError:
        return
    raise AssertionError(f"{value!r} is outside the documented pattern but was accepted")


def test_documented_time_zones_are_exactly_the_accepted_ones() -> None:
    documented = SCHEMA["properties"]["zone"]["enum"]
    assert set(documented) == available_timezones() and "Europe/London" in documented
    for zone in documented:
        _Ids(id="x", zone=zone)


def _spec(**kw: object) -> RouteSpec:
    base = dict(
        path="/things/{thing_id}",
        method="GET",
        auth="customer",
        body=None,
        query=None,
        response=None,
        status=200,
        summary="s",
        tag="t",
        max_body=1024,
        errors=(),
        name="get_thing",
    )
    return RouteSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_non_json_responses_are_documented_with_their_media_types() -> None:
    """Found: console pages answer 404 in HTML and assets 304 with no body, documented as JSON errors or not at all."""
    doc = openapi_document([_spec(media={200: ("text/html",), 404: ("text/html",), 304: ()})])
    responses = doc["paths"]["/things/{thing_id}"]["get"]["responses"]
    assert list(responses["200"]["content"]) == ["text/html"]
    assert list(responses["404"]["content"]) == ["text/html"]
    assert "content" not in responses["304"] and responses["304"]["description"] == "Not Modified"
    assert list(responses["401"]["content"]) == ["application/json"]  # the wrapper's own errors stay JSON


def test_every_operation_names_its_role(app) -> None:
    """The fuzzer (and any client) picks the token for an operation from ``x-academy-auth``."""
    from chalicelib.core.api import ROUTES

    doc = openapi_document()
    for spec in ROUTES:
        assert doc["paths"][spec.path][spec.method.lower()]["x-academy-auth"] == spec.auth
    assert openapi_document([_spec(auth="admin")])["paths"]["/things/{thing_id}"]["get"]["x-academy-auth"] == "admin"
