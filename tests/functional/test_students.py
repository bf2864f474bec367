"""Students: the first vertical slice (auth matrix, validation, ownership, pagination, audit)."""

from __future__ import annotations

import json
import time

import jwt
import pytest


def post(client, path, token, body):
    return client.http.post(
        path,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=body if isinstance(body, (str, bytes)) else json.dumps(body),
    )


def get(client, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.http.get(path, headers=headers)


@pytest.fixture
def student(client, tokens):
    r = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada", "timezone": "Europe/London"})
    assert r.status_code == 201, r.body
    return r.json_body


def test_create_read_list(client, tokens, student):
    assert student["customer_id"] == "cust-a" and student["timezone"] == "Europe/London"
    assert student["created_at"].endswith("Z")
    r = get(client, f"/admin/students/{student['id']}", tokens.admin)
    assert r.status_code == 200 and r.json_body == student
    r = get(client, "/admin/students", tokens.admin)
    assert r.json_body == {"items": [student], "next_token": None}


def test_customer_sees_only_own_students(client, tokens, student):
    post(client, "/admin/students", tokens.admin, {"customer_id": "cust-b", "name": "Bob"})
    mine = get(client, "/customer/students", tokens.customer_a).json_body["items"]
    assert [s["name"] for s in mine] == ["Ada"]
    theirs = get(client, "/customer/students", tokens.customer_b).json_body["items"]
    assert [s["name"] for s in theirs] == ["Bob"]


def _expired(tokens_cls):
    from chalicelib.core.auth import dev_signing_key
    from chalicelib.core.settings import get_settings

    s = get_settings()
    now = int(time.time())
    return jwt.encode(
        {"sub": "admin-1", "role": "admin", "iss": s.jwt_issuer, "aud": s.jwt_audience, "iat": now - 100, "exp": now - 10},
        dev_signing_key(s),
        algorithm="HS256",
    )


def _tampered(token: str) -> str:
    header, payload, sig = token.split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{sig}"


@pytest.mark.parametrize("path", ["/admin/students", "/admin/students/{id}", "/customer/students"])
def test_auth_matrix(client, tokens, student, path):
    path = path.replace("{id}", student["id"])
    is_admin_route = path.startswith("/admin")
    assert get(client, path).status_code == 401
    assert get(client, path).json_body["error"]["code"] == "missing_token"
    expired = get(client, path, _expired(tokens))
    assert expired.status_code == 401 and expired.json_body["error"]["code"] == "token_expired"
    assert get(client, path, _tampered(tokens.customer_a)).status_code == 401
    assert get(client, path, "not-a-jwt").status_code == 401
    assert get(client, path, tokens.customer_a).status_code == (403 if is_admin_route else 200)
    assert get(client, path, tokens.admin).status_code == (200 if is_admin_route else 403)


def test_bad_scheme_is_401(client):
    r = client.http.get("/admin/students", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and r.json_body["error"]["code"] == "invalid_token"


def test_unknown_student_is_404(client, tokens):
    r = get(client, "/admin/students/01NOPE", tokens.admin)
    assert r.status_code == 404 and r.json_body["error"]["code"] == "student_not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No customer"}, "customer_id"),
        ({"customer_id": 5, "name": "Ada"}, "customer_id"),
        ({"customer_id": "c", "name": ""}, "name"),
        ({"customer_id": "c", "name": "Ada", "timezone": "Mars/Olympus"}, "timezone"),
        ({"customer_id": "c", "name": "Ada", "role": "admin"}, "role"),
        ({"customer_id": "c/../x", "name": "Ada"}, "customer_id"),
    ],
)
def test_validation_names_the_field(client, tokens, body, field):
    r = post(client, "/admin/students", tokens.admin, body)
    assert r.status_code == 400, r.body
    err = r.json_body["error"]
    assert err["code"] == "validation_error" and field in err["details"]["fields"]


@pytest.mark.parametrize("raw", ["{", "[1,2]", "null", '"str"', "\xff\xfe"])
def test_malformed_or_non_object_json(client, tokens, raw):
    r = post(client, "/admin/students", tokens.admin, raw.encode("latin-1"))
    assert r.status_code == 400
    assert r.json_body["error"]["code"] in ("malformed_json", "validation_error")


def test_huge_body_is_413_and_nothing_is_stored(client, tokens):
    r = post(client, "/admin/students", tokens.admin, json.dumps({"customer_id": "c", "name": "x" * (1024 * 1024)}))
    assert r.status_code == 413 and r.json_body["error"]["code"] == "payload_too_large"
    assert get(client, "/admin/students", tokens.admin).json_body["items"] == []


def test_pagination_by_cursor(client, tokens):
    ids = [post(client, "/admin/students", tokens.admin, {"customer_id": "c", "name": f"S{i}"}).json_body["id"] for i in range(5)]
    seen, token = [], None
    while True:
        q = "/admin/students?limit=2" + (f"&next_token={token}" if token else "")
        page = get(client, q, tokens.admin).json_body
        seen += [s["id"] for s in page["items"]]
        token = page["next_token"]
        if not token:
            break
    assert seen == ids


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "next_token=%%%", "next_token=eyJmb28iOiAxfQ"])
def test_bad_list_parameters_are_400(client, tokens, query):
    r = get(client, f"/admin/students?{query}", tokens.admin)
    assert r.status_code == 400, r.body


def test_admin_write_is_audited(client, tokens, student):
    entries = get(client, "/admin/audit", tokens.admin).json_body["items"]
    assert entries[0]["action"] == "student.create"
    assert entries[0]["actor"] == {"role": "admin", "id": "admin-1"}
    assert entries[0]["target"] == f"student:{student['id']}"


def patch(client, path, token, body):
    return client.http.patch(
        path,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=body if isinstance(body, (str, bytes)) else json.dumps(body),
    )


def test_patch_edits_at_the_revision_read_and_bumps_it(client, tokens, student):
    sid = student["id"]
    assert student["rev"] == 0 and student["active"] is True and student["notes"] is None
    r = patch(client, f"/admin/students/{sid}", tokens.admin, {"rev": 0, "name": "Ada L.", "notes": "Prefers mornings"})
    assert r.status_code == 200, r.body
    assert r.json_body["name"] == "Ada L." and r.json_body["notes"] == "Prefers mornings" and r.json_body["rev"] == 1
    assert get(client, f"/admin/students/{sid}", tokens.admin).json_body == r.json_body
    # a second admin still holding revision 0: refused, and nothing of theirs is written
    r = patch(client, f"/admin/students/{sid}", tokens.admin, {"rev": 0, "name": "Stale"})
    assert r.status_code == 409 and r.json_body["error"]["code"] == "stale_revision"
    assert r.json_body["error"]["details"]["current_rev"] == 1
    assert get(client, f"/admin/students/{sid}", tokens.admin).json_body["name"] == "Ada L."
    r = patch(client, f"/admin/students/{sid}", tokens.admin, {"rev": 1, "notes": ""})
    assert r.status_code == 200 and r.json_body["notes"] is None and r.json_body["rev"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"name": "No rev"},
        {"rev": 0},
        {"rev": "0", "name": "x"},
        {"rev": -1, "name": "x"},
        {"rev": 0, "name": ""},
        {"rev": 0, "name": None},
        {"rev": 0, "active": "false"},
        {"rev": 0, "timezone": "Mars/Olympus"},
        {"rev": 0, "customer_id": "cust-b"},
        {"rev": 0, "notes": "x" * 2001},
    ],
)
def test_patch_refuses_bad_input_and_changes_nothing(client, tokens, student, body):
    r = patch(client, f"/admin/students/{student['id']}", tokens.admin, body)
    assert r.status_code == 400, (body, r.body)
    assert get(client, f"/admin/students/{student['id']}", tokens.admin).json_body == student


def test_patch_unknown_or_malformed_student_is_404_and_customers_are_refused(client, tokens, student):
    for sid in ("01JZZZZZZZZZZZZZZZZZZZZZZZ", "not an id"):
        r = patch(client, f"/admin/students/{sid}", tokens.admin, {"rev": 0, "name": "x"})
        assert r.status_code == 404 and r.json_body["error"]["code"] == "student_not_found"
    r = patch(client, f"/admin/students/{student['id']}", tokens.customer_a, {"rev": 0, "name": "x"})
    assert r.status_code == 403
    r = patch(client, f"/admin/students/{student['id']}", tokens.admin, "{not json")
    assert r.status_code == 400


def test_archive_leaves_the_list_keeps_the_record_and_refuses_new_schedules(client, tokens, student):
    sid = student["id"]
    other = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Bea"}).json_body
    r = patch(client, f"/admin/students/{sid}", tokens.admin, {"rev": 0, "active": False})
    assert r.status_code == 200 and r.json_body["active"] is False
    listed = get(client, "/admin/students", tokens.admin).json_body["items"]
    assert [s["id"] for s in listed] == [other["id"]]
    archived = get(client, "/admin/students?archived=true", tokens.admin).json_body["items"]
    assert [s["id"] for s in archived] == [sid]
    assert get(client, f"/admin/students/{sid}", tokens.admin).json_body["active"] is False
    # the family still sees its child's record (history stays)
    mine = get(client, "/customer/students", tokens.customer_a).json_body["items"]
    assert sid in [s["id"] for s in mine]
    lesson = {"title": "Algebra", "starts_at": "2030-01-07T16:00:00Z", "ends_at": "2030-01-07T17:00:00Z"}
    r = post(client, "/admin/schedules", tokens.admin, {**lesson, "student_ids": [other["id"], sid]})
    assert r.status_code == 409 and r.json_body["error"]["code"] == "archived_students"
    assert r.json_body["error"]["details"]["archived"] == [sid]
    assert get(client, "/admin/schedules", tokens.admin).json_body["items"] == []
    # restored: back in the list, out of the archive, and schedulable again
    r = patch(client, f"/admin/students/{sid}", tokens.admin, {"rev": 1, "active": True})
    assert r.status_code == 200 and r.json_body["active"] is True
    assert sid in [s["id"] for s in get(client, "/admin/students", tokens.admin).json_body["items"]]
    assert get(client, "/admin/students?archived=true", tokens.admin).json_body["items"] == []
    r = post(client, "/admin/schedules", tokens.admin, {**lesson, "student_ids": [sid]})
    assert r.status_code == 201, r.body


def test_patch_is_audited(client, tokens, student):
    patch(client, f"/admin/students/{student['id']}", tokens.admin, {"rev": 0, "name": "Ada L."})
    r = get(client, "/admin/audit?action=student.update", tokens.admin)
    assert r.status_code == 200, r.body
    assert [e["action"] for e in r.json_body["items"]] == ["student.update"]


def test_concurrent_edits_at_one_revision_one_wins_one_is_stale(client, tokens, student):
    """Two admins save at the revision they both read: the store's one conditional write lets exactly one in."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.core.errors import Conflicting
    from chalicelib.students import store

    def save(name: str) -> str:
        try:
            return store.update(student["id"], 0, {"name": name}).name
        except Conflicting as exc:
            assert exc.code == "stale_revision" and exc.details["current_rev"] == 1
            return "409"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(save, ["First", "Second"]))
    assert outcomes[0] == "409" and outcomes[1] in ("First", "Second")
    now = get(client, f"/admin/students/{student['id']}", tokens.admin).json_body
    assert now["rev"] == 1 and now["name"] == outcomes[1]


def test_a_row_written_before_revisions_is_at_revision_zero(client, tokens, student):
    from chalicelib.students.store import Student

    Student(id=student["id"]).update(actions=[Student.rev.remove()])  # as the rows of the first contract were
    r = patch(client, f"/admin/students/{student['id']}", tokens.admin, {"rev": 1, "name": "Not at 1"})
    assert r.status_code == 409 and r.json_body["error"]["details"]["current_rev"] == 0
    r = patch(client, f"/admin/students/{student['id']}", tokens.admin, {"rev": 0, "name": "Ada L."})
    assert r.status_code == 200 and r.json_body["rev"] == 1 and r.json_body["name"] == "Ada L."
