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
