"""Conventions every route shares: envelope, request ids, unhandled errors, OpenAPI in step with routes."""

from __future__ import annotations

import json
import re

from chalicelib.core import observability


def test_request_id_is_echoed_or_generated(client):
    r = client.http.get("/health", headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"
    r = client.http.get("/health", headers={"X-Request-Id": "bad id with spaces\n"})
    assert r.headers["X-Request-Id"] and " " not in r.headers["X-Request-Id"]


def test_unhandled_error_is_a_clean_500_with_request_id_and_reaches_the_seam(client, tokens, monkeypatch):
    from chalicelib.students.store import Student
    from tests.faults import raising

    seen = []
    monkeypatch.setattr(observability, "_sinks", [lambda exc, ctx: seen.append((exc, ctx))])
    with raising(Student, "GetItem", RuntimeError("database on fire: secret internals")):
        r = client.http.get("/admin/students/x1", headers={**tokens.h(tokens.admin), "X-Request-Id": "req-500"})
    assert r.status_code == 500
    body = r.json_body
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["details"]["request_id"] == "req-500"
    assert "on fire" not in r.body.decode() and "Traceback" not in r.body.decode()
    assert len(seen) == 1
    exc, ctx = seen[0]
    assert isinstance(exc, RuntimeError)
    assert ctx["route"] == "GET /admin/students/{student_id}" and ctx["request_id"] == "req-500"


def test_a_failing_sink_never_breaks_the_response(client, tokens, monkeypatch):
    from chalicelib.students.store import Student
    from tests.faults import raising

    def bad_sink(exc, ctx):
        raise ValueError("sink down")

    monkeypatch.setattr(observability, "_sinks", [bad_sink])
    with raising(Student, "GetItem", RuntimeError("x")):
        r = client.http.get("/admin/students/x1", headers=tokens.h(tokens.admin))
    assert r.status_code == 500 and r.json_body["error"]["code"] == "internal_error"


def test_wrong_method_is_enveloped(client):
    r = client.http.delete("/health")
    assert r.status_code == 405
    assert r.json_body["error"]["code"] == "method_not_allowed"


def test_openapi_matches_the_route_table(client, app):
    doc = client.http.get("/openapi.json").json_body
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert documented == routed
    for path, ops in doc["paths"].items():
        for op in ops.values():
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path))


def test_openapi_document_is_valid():
    from openapi_spec_validator import validate

    from chalicelib.core.api import openapi_document

    validate(openapi_document())


def test_every_model_a_route_module_names_lazily_exists(app):
    """Route modules name models as ``S.Name`` (imported on first use): a misspelt name must fail here,
    not on the first request of a rarely used route. Checks every ``S.<Name>`` and ``S.page("<Name>")``."""
    import inspect
    import sys

    from chalicelib.core.api import Schemas

    checked, modules = 0, 0
    for name, module in list(sys.modules.items()):
        schemas = getattr(module, "S", None) if name.startswith("chalicelib.") else None
        if not isinstance(schemas, Schemas):
            continue
        modules += 1
        source = inspect.getsource(module)
        names = set(re.findall(r"\bS\.(?!page\b)(\w+)", source)) | set(re.findall(r'\bS\.page\("(\w+)"\)', source))
        for model in sorted(names):
            getattr(schemas, model).resolve()  # AttributeError names the module and the model
            checked += 1
    assert modules >= 8 and checked >= 40  # every route module was read


def _hdr(response, name):
    return next((v for k, v in response.headers.items() if k.lower() == name.lower()), None)


def test_every_response_says_nosniff_and_json_is_never_stored(client, tokens):
    """Success, our error envelope, Chalice's own errors, HTML, static files: all nosniff; JSON no-store."""
    student = client.http.post(
        "/admin/students", headers=tokens.h(tokens.admin), body='{"customer_id": "cust-a", "name": "Ada"}'
    ).json_body
    body = json.dumps({"student_id": student["id"], "filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 10})
    presigned = client.http.post("/customer/homework", headers=tokens.h(tokens.customer_a), body=body)
    assert presigned.status_code == 201 and "url" in presigned.json_body["upload"]
    json_responses = [
        presigned,
        client.http.get("/health"),
        client.http.get("/admin/students", headers=tokens.h(tokens.admin)),
        client.http.get("/admin/students"),  # 401 envelope
        client.http.get("/admin/students", headers={"Authorization": "Bearer not-a-jwt"}),
        client.http.post("/admin/students", headers=tokens.h(tokens.admin), body="{not json"),
        client.http.get("/admin/students/missing", headers=tokens.h(tokens.admin)),
    ]
    for r in json_responses:
        assert _hdr(r, "X-Content-Type-Options") == "nosniff", r.status_code
        assert _hdr(r, "Cache-Control") == "no-store", r.status_code
    others = [client.http.get(p) for p in ("/console", "/console/static/app.js", "/static/incident-reporter.js")]
    for r in others:
        assert r.status_code == 200 and _hdr(r, "X-Content-Type-Options") == "nosniff"
    assert [_hdr(r, "Cache-Control") for r in others] == ["no-cache", "no-cache", "public, max-age=300"]  # their own choice


def test_protective_headers_keep_a_routes_own_choice():
    from chalice import Response

    from chalicelib.core.middleware import protective_headers

    r = protective_headers(Response(body="{}", headers={"content-type": "application/json; charset=utf-8"}))
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
    r = protective_headers(Response(body="{}", headers={"Content-Type": "application/json", "cache-control": "max-age=5"}))
    assert "Cache-Control" not in r.headers and r.headers["cache-control"] == "max-age=5"
    r = protective_headers(Response(body="x", headers={"Content-Type": "text/plain"}))
    assert "Cache-Control" not in r.headers
