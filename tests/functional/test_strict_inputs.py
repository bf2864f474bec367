"""Inputs are strict: times, dates, numbers and booleans only in their own JSON (or query) form, 400 naming the field.

Generated from the route table: every field of every body and query model is sent a value of the
wrong kind (a number for a time or a date, a string for a number or a boolean, "5.0" or "yes" in a
query string); then a few of the reported cases end to end over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest

import app as _app  # noqa: F401  (registers every route)
from chalicelib.core.api import ROUTES, resolve
from tests.media_support import get, post


def _kinds(prop: dict[str, Any]) -> set[str]:
    """The JSON types (and formats) a documented property accepts."""
    options = prop.get("anyOf", [prop])
    out: set[str] = set()
    for o in options:
        if "enum" in o or "const" in o or "$ref" in o:
            out.add("enum")
        elif o.get("format") in ("date", "date-time"):
            out.add(o["format"])
        elif "type" in o:
            out.add(o["type"])
    return out - {"null"}


BODY_WRONG = {  # kind → values of another JSON type that must be refused
    "date-time": [1767625200, "1767625200", "2026-01-05T15:00:00", "2026-01-05", True],
    "date": [0, "0", "20260105", "2026-W02-1", "2026-01-05T00:00:00Z", "2026-01-05\n", 20260105.0],
    "integer": ["5", 5.5, True, "5_0"],
    "number": ["5", True],
    "boolean": ["true", 1, "yes", 0],
    "string": [5, True, 1.5],
    "enum": [5, True],
    "array": ["1", 1, {"0": 1}],
    "object": ["{}", [], 1],
}
QUERY_WRONG = {
    "date-time": ["1767625200", "2026-01-05", "2026-01-05T15:00:00"],
    "date": ["0", "20260105", "2026-W02-1", "2026-01-05T00:00:00Z"],
    "integer": ["5.0", "true", "+5", "5_0", " 5", "\u0665"],  # the last: ARABIC-INDIC DIGIT FIVE
    "boolean": ["yes", "1", "on", "True"],
}


def _models(kind: str) -> list[tuple[str, Any]]:
    seen: dict[str, Any] = {}
    for spec in ROUTES:
        ref = spec.body if kind == "body" else spec.query
        if ref is not None:
            model = resolve(ref)
            seen.setdefault(model.__name__, model)
    return sorted(seen.items())


def _fields(model: Any) -> list[tuple[str, set[str]]]:
    schema = model.model_json_schema()
    return [(name, _kinds(prop)) for name, prop in schema.get("properties", {}).items()]


def _refused(model: Any, name: str, value: Any) -> bool:
    from pydantic import ValidationError

    try:
        model.model_validate({name: value})
    except ValidationError as exc:
        return any(e["loc"] and e["loc"][0] == name for e in exc.errors())
    return False


@pytest.mark.parametrize(("name", "model"), _models("body"), ids=lambda v: v if isinstance(v, str) else "")
def test_every_body_field_refuses_values_of_another_type(name, model):
    checked = 0
    for field, kinds in _fields(model):
        for kind in kinds:
            for value in BODY_WRONG.get(kind, []):
                if "string" in kinds and isinstance(value, str):
                    continue  # a field that also takes any string
                assert _refused(model, field, value), f"{name}.{field} ({kind}) accepted {value!r}"
                checked += 1
    assert checked or not _fields(model), f"{name}: nothing checked"


@pytest.mark.parametrize(("name", "model"), _models("query"), ids=lambda v: v if isinstance(v, str) else "")
def test_every_query_parameter_is_parsed_strictly(name, model):
    for field, kinds in _fields(model):
        for kind in kinds:
            for value in QUERY_WRONG.get(kind, []):
                assert _refused(model, field, value), f"{name}.{field} ({kind}) accepted {value!r}"


def test_the_audit_covers_what_the_product_takes():
    kinds = {k for _, m in _models("body") + _models("query") for _, ks in _fields(m) for k in ks}
    assert {"date-time", "date", "integer", "boolean", "string"} <= kinds


# --- end to end: the cases reported in the issue, and that the valid forms still work ------------


@pytest.fixture
def student(client, tokens):
    return post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]


def _field_error(r, field: str) -> None:
    assert r.status_code == 400, (r.status_code, r.body[:300])
    assert field in r.json_body["error"]["details"]["fields"], r.json_body


def test_numeric_timestamps_and_dates_are_400_naming_the_field(client, tokens, student):
    schedule = {"title": "Maths", "student_ids": [student], "starts_at": 1767625200, "ends_at": "2026-01-05T16:00:00Z"}
    _field_error(post(client, "/admin/schedules", tokens.admin, schedule), "starts_at")
    _field_error(post(client, "/admin/schedules", tokens.admin, {**schedule, "starts_at": "1767625200"}), "starts_at")
    task = {"title": "Read", "recurrence": "daily"}
    _field_error(post(client, "/admin/tasks", tokens.admin, {**task, "starts_on": 0}), "starts_on")
    _field_error(post(client, "/admin/tasks", tokens.admin, {**task, "starts_on": "0"}), "starts_on")
    _field_error(get(client, "/admin/audit?since=1767625200", tokens.admin), "query.since")
    _field_error(get(client, "/admin/schedules?from=0", tokens.admin), "query.from")
    ok = post(client, "/admin/schedules", tokens.admin, {**schedule, "starts_at": "2026-01-05T15:00:00+00:00"})
    assert ok.status_code == 201 and ok.json_body["starts_at"].startswith("2026-01-05T15:00:00")
    task = post(client, "/admin/tasks", tokens.admin, {"title": "Read", "recurrence": "daily", "starts_on": "2026-01-05"})
    assert task.status_code == 201
    assert get(client, "/admin/audit?since=2026-01-01T00:00:00Z", tokens.admin).status_code == 200


def test_numbers_and_booleans_are_never_coerced(client, tokens, student):
    upload = {"student_id": student, "filename": "a.pdf", "content_type": "application/pdf", "size_bytes": "100"}
    _field_error(post(client, "/customer/homework", tokens.customer_a, upload), "size_bytes")
    _field_error(post(client, "/admin/tasks/prune-future", tokens.admin, {"apply": "true"}), "apply")
    _field_error(post(client, "/admin/tasks/prune-future", tokens.admin, {"limit": 5.0}), "limit")
    for query in ("limit=5.0", "limit=true", "limit=%2B5"):
        _field_error(get(client, f"/admin/students?{query}", tokens.admin), "query.limit")
    _field_error(get(client, "/admin/media?optimisable=yes", tokens.admin), "query.optimisable")
    assert get(client, "/admin/students?limit=5", tokens.admin).status_code == 200
    assert get(client, "/admin/media?optimisable=true", tokens.admin).status_code == 200
    assert post(client, "/admin/tasks/prune-future", tokens.admin, {"apply": False, "limit": 5}).status_code == 200
