"""The authorization matrix, generated from the route table: no route can be left out.

Every route x {anonymous, expired token, tampered token, customer, admin} → the expected class
of answer; and every customer route x {customer A, customer B} on customer A's real resources (ids in
the path, the body and the query): A is served, B gets 404 and A's data is untouched. A new customer
route whose ids the seed does not know fails here until it is added.
"""

from __future__ import annotations

import base64
import json
import re
import time

import jwt
import pytest

import app as _app  # noqa: F401  (registers every route before the matrix is generated)
from chalicelib.core.api import ROUTES, RouteSpec, resolve

DUMMY_ID = "01JZZZZZZZZZZZZZZZZZZZZZZZ"


def _path(spec: RouteSpec) -> str:
    def fill(m: re.Match[str]) -> str:
        return "2026-01-05" if m.group(1) == "date" else DUMMY_ID

    return re.sub(r"{(\w+)}", fill, spec.path)


def _expired() -> str:
    from chalicelib.core.auth import dev_signing_key
    from chalicelib.core.settings import get_settings

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


CUSTOMER_ROUTES = [s for s in ROUTES if s.auth == "customer"]


@pytest.fixture
def owned(client, tokens):
    """Customer A's student, homework and video (real rows and keys, uploads not yet made)."""
    from tests.media_support import post

    student = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]
    post(client, "/admin/students", tokens.admin, {"customer_id": "cust-b", "name": "Bob"})
    for cid, family in (("cust-a", "Ada's family"), ("cust-b", "Bob's family")):  # customer records (GET /customer/profile)
        made = post(
            client,
            "/admin/customers",
            tokens.admin,
            {"customer_id": cid, "display_name": family, "contact_email": f"{cid}@example.com"},
        )
        assert made.status_code == 201, made.body
    upload = {"student_id": student, "size_bytes": 100}
    hw = post(client, "/customer/homework", tokens.customer_a, {**upload, "filename": "a.pdf", "content_type": "application/pdf"})
    video = post(client, "/customer/videos", tokens.customer_a, {**upload, "filename": "a.mp4", "content_type": "video/mp4"})
    assert hw.status_code == video.status_code == 201
    _complete_with_variant(client, tokens, hw.json_body, video.json_body)
    task = post(client, "/admin/tasks", tokens.admin, {"title": "Read 20 min", "student_id": student, "recurrence": "daily"})
    assert task.status_code == 201, task.body  # today's instance: what the family tasks route shows A
    return {
        "student_id": student,
        "homework_id": hw.json_body["homework"]["id"],
        "video_id": video.json_body["video"]["id"],
        "customer_id": "cust-a",
    }


def _complete_with_variant(client, tokens, hw: dict, video: dict) -> None:
    """A's homework uploaded and completed, and A's video completed with a 720p variant and a poster: the
    review, file, play and download routes then serve A (and must not serve B)."""
    import tempfile
    from pathlib import Path

    from chalicelib.media import store
    from tests.media_support import post, upload_file_to, upload_form

    pdf = b"%PDF-1.4\n" + b"x" * 91  # the 100 bytes declared
    assert upload_form(hw["upload"], pdf) in (200, 204)
    assert post(client, f"/customer/homework/{hw['homework']['id']}/complete", tokens.customer_a).status_code == 200
    v = store.get_video(video["video"]["id"])  # its original and 720p stored directly (the upload checks need > 100 bytes)
    prefix = v.original_key.rsplit("/", 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(88))
        for key, ctype in (
            (v.original_key, "video/mp4"),
            (f"{prefix}/720p.mp4", "video/mp4"),
            (f"{prefix}/poster.jpg", "image/jpeg"),
        ):
            upload_file_to(key, clip, ctype)
    assert store.record_original(v, 100, None)
    optimised = store.variant("720p", f"{prefix}/720p.mp4", 100, "video/mp4", width=1280, height=720)
    assert store.record_optimised(v.id, v.variants[0], optimised, f"{prefix}/poster.jpg")


def _unsigned(value):
    """``value`` with each presigned URL's query (its signature and expiry, which change by the second) cut off."""
    if isinstance(value, dict):
        return {k: _unsigned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsigned(v) for v in value]
    return value.split("?", 1)[0] if isinstance(value, str) and value.startswith("http") else value


def _owned_request(spec: RouteSpec, owned: dict[str, str]) -> tuple[str, bytes | None, bool]:
    """(path with A's ids, body naming A's student, whether the request names anything of A's)."""
    names = re.findall(r"{(\w+)}", spec.path)
    missing = [n for n in names if n not in owned]
    assert not missing, f"{spec.method} {spec.path}: add a resource of customer A for {missing} to the `owned` seed"
    path = re.sub(r"{(\w+)}", lambda m: owned[m.group(1)], spec.path)
    names_a = bool(names)
    body = None
    if spec.body is not None and "part_numbers" in resolve(spec.body).model_fields:  # a multipart upload's part URLs
        return path, json.dumps({"part_numbers": [1]}).encode(), names_a
    if spec.body is not None:
        fields = resolve(spec.body).model_fields
        assert "student_id" in fields, f"{spec.method} {spec.path}: teach this matrix which of A's ids the body names"
        ctype, name = ("video/mp4", "b.mp4") if "video" in spec.path else ("application/pdf", "b.pdf")
        fields = {"student_id": owned["student_id"], "filename": name, "content_type": ctype, "size_bytes": 100}
        body = json.dumps(fields).encode()
        names_a = True
    if spec.query is not None and "student_id" in resolve(spec.query).model_fields:
        path += f"?student_id={owned['student_id']}"
        names_a = True
    return path, body, names_a


@pytest.fixture(params=CUSTOMER_ROUTES, ids=_ids)
def customer_spec(request) -> RouteSpec:
    return request.param


def test_customer_b_never_reaches_customer_a_resources(client, tokens, owned, customer_spec):
    spec = customer_spec
    path, body, names_a = _owned_request(spec, owned)
    before = {
        k: _unsigned(client.http.get(f"/customer/{k}", headers=tokens.h(tokens.customer_a)).json_body)
        for k in ("homework", "videos")
    }

    def call(token: str):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return client.http.request(spec.method, path, headers=headers, body=body)

    as_b = call(tokens.customer_b)
    if names_a:
        assert as_b.status_code == 404, f"customer B: {as_b.status_code} {as_b.body[:300]!r}"
        assert json.loads(as_b.body)["error"]["code"].endswith("not_found")
        assert "cust-a" not in as_b.body.decode() and "Ada" not in as_b.body.decode()  # nothing of A's beyond the id B sent
    else:  # a list of one's own: nothing of A's in it
        assert as_b.status_code == 200 and not any(v in as_b.body.decode() for v in owned.values())
    after = {
        k: _unsigned(client.http.get(f"/customer/{k}", headers=tokens.h(tokens.customer_a)).json_body)
        for k in ("homework", "videos")
    }
    assert after == before, "customer B's request changed customer A's data"

    as_a = call(tokens.customer_a)
    # A is served (409: "complete" before the file was uploaded, a state answer, not a refusal of access).
    assert as_a.status_code in (200, 201, 202, 409), f"customer A: {as_a.status_code} {as_a.body[:300]!r}"
