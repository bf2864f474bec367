"""Every cursor is bound to the list that issued it: generated from the route table, so no list is left out.

Each list route (a query ``next_token``) and each batch repair (a body ``cursor``/``next_token``) is
sent another list's real cursor, a forged one, a truncated one and an unsealed raw key → 400
``invalid_next_token``; its own cursor still pages; the same list with other filters, or another
customer, refuses it.
"""

from __future__ import annotations

import base64
import json
import re

import pytest

import app as _app  # noqa: F401  (registers every route before the table is read)
from chalicelib.core import cursors
from chalicelib.core.api import CURSOR_FIELDS, ROUTES, RouteSpec, resolve
from tests.media_support import get, post

DUMMY_ID = "01JZZZZZZZZZZZZZZZZZZZZZZZ"
# Required body fields of the batch routes (a new one fails `test_every_batch_route_has_a_body` until added).
BATCH_BODIES: dict[str, dict[str, object]] = {
    "POST /admin/tasks/prune-future": {},
    "POST /admin/tasks/backfill": {"from": "2026-01-01", "to": "2026-01-02"},
    "POST /admin/tasks/migrate-shards": {},
    "POST /admin/jobs/retry": {},
    "POST /admin/incidents/groups/{group_id}/retry-jobs": {},
}


def _cursor_source(spec: RouteSpec) -> tuple[str, str] | None:
    for source, model in (("query", spec.query), ("body", spec.body)):
        if model is not None:
            fields = resolve(model).model_fields
            for name in CURSOR_FIELDS:
                if name in fields:
                    return source, name
    return None


LIST_ROUTES = [s for s in ROUTES if _cursor_source(s)]


def _ids(spec: RouteSpec) -> str:
    return f"{spec.method} {spec.path}"


def test_the_table_has_the_lists_we_know():
    names = {_ids(s) for s in LIST_ROUTES}
    for expected in (
        "GET /admin/students",
        "GET /customer/students",
        "GET /admin/schedules",
        "GET /admin/schedules/{schedule_id}/attendance",
        "GET /admin/tasks",
        "GET /admin/audit",
        "GET /admin/incidents",
        "GET /admin/jobs",
        "GET /admin/media",
        "GET /admin/homework",
        "GET /customer/homework",
        "POST /admin/tasks/prune-future",
        "POST /admin/jobs/retry",
    ):
        assert expected in names
    assert len(LIST_ROUTES) >= 16


def test_every_batch_route_has_a_body():
    for spec in LIST_ROUTES:
        if _cursor_source(spec)[0] == "body":
            assert _ids(spec) in BATCH_BODIES, f"{_ids(spec)}: add its required body fields to BATCH_BODIES"


@pytest.fixture
def real_cursors(client, tokens):
    """Two real cursors from two different lists (students and audit: admin writes are audited)."""
    for i in range(3):
        assert post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": f"S{i}"}).status_code == 201
    students = get(client, "/admin/students?limit=1", tokens.admin).json_body["next_token"]
    audit = get(client, "/admin/audit?limit=1", tokens.admin).json_body["next_token"]
    assert students and audit
    return {"GET /admin/students": students, "GET /admin/audit": audit}


def _forged(token: str) -> str:
    payload, mac = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[len(raw) // 2] ^= 1  # one bit of the position changed, the tag kept
    return f"{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}.{mac}"


def _unsealed_key() -> str:  # what the lists accepted before: a bare LastEvaluatedKey
    raw = json.dumps({"id": {"S": DUMMY_ID}, "kind": {"S": "student"}}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _request(client, tokens, spec: RouteSpec, token: str):
    source, name = _cursor_source(spec)
    path = re.sub(r"{(\w+)}", lambda m: "2026-01-05" if m.group(1) == "date" else DUMMY_ID, spec.path)
    who = tokens.customer_a if spec.auth == "customer" else tokens.admin
    headers = tokens.h(who)
    if source == "query":
        return client.http.request(spec.method, f"{path}?{name}={token}", headers=headers)
    body = {**BATCH_BODIES.get(_ids(spec), {}), name: token}
    return client.http.request(spec.method, path, headers=headers, body=json.dumps(body))


@pytest.mark.parametrize("spec", LIST_ROUTES, ids=_ids)
def test_a_foreign_forged_or_truncated_cursor_is_a_400(client, tokens, real_cursors, spec):
    foreign = next(t for route, t in real_cursors.items() if route != _ids(spec))
    own_kind = real_cursors["GET /admin/students"]
    bad = {
        "foreign": foreign,
        "forged": _forged(own_kind),
        "truncated mac": own_kind[:-3],
        "truncated payload": own_kind[: len(own_kind) // 2],
        "no mac": own_kind.split(".")[0],
        "unsealed key": _unsealed_key(),
        "junk": "%25%25%25",
    }
    for what, token in bad.items():
        r = _request(client, tokens, spec, token)
        assert r.status_code == 400, f"{what}: {r.status_code} {r.body[:300]!r}"
        error = r.json_body["error"]
        assert error["code"] == "invalid_next_token", f"{what}: {error}"
        assert _cursor_source(spec)[1] in error["details"]["fields"], f"{what}: {error}"


def test_a_list_pages_with_its_own_cursor_but_not_with_other_filters(client, tokens):
    for i in range(3):
        post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": f"A{i}"})
    first = get(client, "/customer/students?limit=1", tokens.customer_a).json_body
    token = first["next_token"]
    assert token
    second = get(client, f"/customer/students?limit=2&next_token={token}", tokens.customer_a)  # limit may change
    assert second.status_code == 200 and len(second.json_body["items"]) == 2
    assert second.json_body["items"][0]["id"] != first["items"][0]["id"]
    other_customer = get(client, f"/customer/students?next_token={token}", tokens.customer_b)
    assert other_customer.status_code == 400 and other_customer.json_body["error"]["code"] == "invalid_next_token"

    audit = get(client, "/admin/audit?limit=1&action=student.create", tokens.admin).json_body["next_token"]
    assert get(client, f"/admin/audit?action=student.create&next_token={audit}", tokens.admin).status_code == 200
    refiltered = get(client, f"/admin/audit?action=other&next_token={audit}", tokens.admin)
    assert refiltered.status_code == 400 and refiltered.json_body["error"]["code"] == "invalid_next_token"


def test_a_batch_cursor_is_bound_to_its_body(client, tokens):
    p = post
    # UTC+14: its today is always after the earliest today on Earth (UTC-12), so the prune's index
    # range holds these instances at any hour of the day (a UTC task's today is in range only before noon UTC).
    for i in range(3):
        p(client, "/admin/tasks", tokens.admin, {"title": f"T{i}", "recurrence": "daily", "timezone": "Pacific/Kiritimati"})
    r = p(client, "/admin/tasks/prune-future", tokens.admin, {"limit": 1})
    cursor = r.json_body["next_cursor"]
    assert cursor
    assert p(client, "/admin/tasks/prune-future", tokens.admin, {"limit": 1, "cursor": cursor}).status_code == 200
    applied = p(client, "/admin/tasks/prune-future", tokens.admin, {"apply": True, "cursor": cursor})  # a dry run's cursor
    assert applied.status_code == 400 and applied.json_body["error"]["code"] == "invalid_next_token"


def test_a_deployed_stage_without_a_key_fails_closed(monkeypatch):
    from chalicelib.core import settings

    monkeypatch.delenv("ACADEMY_CURSOR_KEY", raising=False)
    monkeypatch.setenv("ACADEMY_AUTH_MODE", "cognito")
    settings.get_settings.cache_clear()
    cursors.cursor_key.cache_clear()
    try:
        with pytest.raises(cursors.CursorKeyMissing):
            cursors.seal("x", b"list")
        monkeypatch.setenv("ACADEMY_CURSOR_KEY", "short")
        cursors.cursor_key.cache_clear()
        with pytest.raises(cursors.CursorKeyMissing):
            cursors.seal("x", b"list")
    finally:
        monkeypatch.undo()
        settings.get_settings.cache_clear()
        cursors.cursor_key.cache_clear()


def test_every_packaged_function_gets_the_same_cursor_key():
    from academy_cli.package_cmd import merge_template

    template = merge_template("prod")
    param = template["Parameters"]["CursorKey"]
    assert param["NoEcho"] is True and param["MinLength"] >= cursors.MIN_KEY_CHARS
    functions = [r for r in template["Resources"].values() if "Environment" in r.get("Properties", {})]
    assert len(functions) >= 5
    for fn in functions:
        assert fn["Properties"]["Environment"]["Variables"]["ACADEMY_CURSOR_KEY"] == {"Ref": "CursorKey"}
