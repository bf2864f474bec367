"""The authorization matrix, generated from the route table: no route can be left out.

Every route x {anonymous, expired token, tampered token, customer, admin} → the expected class
of answer. Ownership across customers (customer B reading A's resources) is tested per capability.
"""

from __future__ import annotations

import base64
import json
import re
import time

import jwt
import pytest

import app as _app  # noqa: F401  (registers every route before the matrix is generated)
from chalicelib.api import ROUTES, RouteSpec

DUMMY_ID = "01JZZZZZZZZZZZZZZZZZZZZZZZ"


def _path(spec: RouteSpec) -> str:
    def fill(m: re.Match[str]) -> str:
        return "2026-01-05" if m.group(1) == "date" else DUMMY_ID

    return re.sub(r"{(\w+)}", fill, spec.path)


def _expired() -> str:
    from chalicelib.auth import dev_signing_key
    from chalicelib.settings import get_settings

    s = get_settings()
    now = int(time.time())
    claims = {"sub": "admin-1", "role": "admin", "iss": s.jwt_issuer, "aud": s.jwt_audience, "iat": now - 60, "exp": now - 1}
    return jwt.encode(claims, dev_signing_key(s), algorithm="HS256")


def _tampered(token: str) -> str:
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    return f"{header}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip('=')}.{sig}"


def _call(client, spec: RouteSpec, token: str | None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = b"{}" if spec.method in ("POST", "PUT", "PATCH") else None
    return client.http.request(spec.method, _path(spec), headers=headers, body=body)


def _ids(spec: RouteSpec) -> str:
    return f"{spec.method} {spec.path}"


def test_every_chalice_route_is_declared(app):
    declared = {(s.path, s.method) for s in ROUTES}
    routed = {(p, m) for p, methods in app.routes.items() for m in methods}
    assert routed == declared


@pytest.fixture(params=ROUTES, ids=_ids)
def spec(request) -> RouteSpec:
    return request.param


def test_matrix(client, tokens, spec):
    anonymous = _call(client, spec, None)
    expired = _call(client, spec, _expired())
    tampered = _call(client, spec, _tampered(tokens.customer_a))
    customer = _call(client, spec, tokens.customer_a)
    admin = _call(client, spec, tokens.admin)
    answers = {"anonymous": anonymous, "expired": expired, "tampered": tampered, "customer": customer, "admin": admin}
    for who, r in answers.items():
        assert r.status_code < 500, f"{who}: {r.status_code} {r.body[:300]!r}"
        if r.status_code >= 400 and r.headers.get("Content-Type", "").startswith("application/json"):
            assert "error" in json.loads(r.body), f"{who}: not an error envelope: {r.body[:200]!r}"
    if spec.auth == "public":
        return
    # A bad token is refused everywhere, even where anonymous callers are welcome.
    assert expired.status_code == 401 and tampered.status_code == 401
    if spec.auth == "optional":
        return
    assert anonymous.status_code == 401
    if spec.auth == "admin":
        assert customer.status_code == 403
        assert admin.status_code not in (401, 403)
    elif spec.auth == "customer":
        assert admin.status_code == 403
        assert customer.status_code not in (401, 403)
    else:  # any signed-in role
        assert customer.status_code not in (401, 403) and admin.status_code not in (401, 403)
