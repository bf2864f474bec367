"""The console's HTTP surface: pages, static files (types, caching, no traversal) and the dev-only sign-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chalicelib.console import domain as pages
from chalicelib.console import routes as console

ROOT = Path(__file__).resolve().parents[2]


def test_pages_are_html_shells_with_safe_headers(client):
    for path in ["/console", "/console/"] + [f"/console/{a}/{p}" for a, p in pages.PAGES]:
        r = client.http.get(path)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        body = r.body.decode()
        assert '<script type="module" src="/console/static/app.js">' in body
        assert 'data-dev-sign-in="true"' in body  # tests run on a dev-auth stage


def _proxy_event(path: str, resource: str, stage_path: str, params: dict[str, str] | None = None) -> dict:
    """An API Gateway REST proxy event (payload v1) as the default execute-api endpoint sends it."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Host": ["abc123.execute-api.us-east-1.amazonaws.com"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": stage_path,
            "stage": "api",
            "requestId": "req-1",
            "identity": {"sourceIp": "203.0.113.9"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("path", "resource", "stage_path", "params", "root"),
    [
        ("/console", "/console", "/api/console", None, "/api/"),
        ("/console", "/console", "/api/console/", None, "/api/"),
        ("/console/admin/jobs", "/console/{area}/{page}", "/api/console/admin/jobs", {"area": "admin", "page": "jobs"}, "/api/"),
        ("/console/admin/nope", "/console/{area}/{page}", "/api/console/admin/nope", {"area": "admin", "page": "nope"}, "/api/"),
        ("/console/admin/jobs", "/console/{area}/{page}", "/console/admin/jobs", {"area": "admin", "page": "jobs"}, "/"),
        ("/console", "/console", '/x"><script>/console', None, "/"),  # never echoed unescaped: falls back
    ],
)
def test_shell_urls_are_under_the_mount_root(app, path, resource, stage_path, params, root):
    """Under API Gateway's stage path every URL of the shell carries the stage (outside it: 403)."""
    r = app(_proxy_event(path, resource, stage_path, params), None)
    body = r["body"]
    assert f'<script type="module" src="{root}console/static/app.js">' in body
    assert f'href="{root}console/static/console.css"' in body and f'href="{root}console">Academy Ops' in body
    assert "<script>" not in body


def test_console_modules_never_use_root_absolute_urls():
    """Imports are relative; API calls, links and the incident endpoint go through api.js's mount root."""
    for js in sorted(console.STATIC_DIR.glob("*.js")):
        text = js.read_text()
        for needle in ('from "/', "import(`/", 'import("/', 'fetch("/', "fetch(`/", 'href: "/', "href: `/", 'assign("/'):
            assert needle not in text, f"{js.name}: {needle}"


def test_unknown_pages_are_404_pages(client):
    for path in ("/console/admin/nope", "/console/customer/schedules", "/console/nobody/homework"):
        r = client.http.get(path)
        assert r.status_code == 404, path
        assert r.headers["Content-Type"].startswith("text/html")
        assert "Page not found" in r.body.decode()


@pytest.mark.parametrize("name", sorted(console.static_files()))
def test_every_static_file_has_its_type_and_an_etag(client, name):
    r = client.http.get(f"/console/static/{name}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == pages.CONTENT_TYPES[Path(name).suffix]
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"].startswith('"')
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.body.decode() == (console.STATIC_DIR / name).read_text()
    again = client.http.get(f"/console/static/{name}", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.body in (b"", "")


def test_the_pages_modules_are_all_served():
    for page in pages.PAGES.values():
        assert page.module in console.static_files()
    assert {"app.js", "api.js", "ui.js", "console.css", "icon.svg"} <= set(console.static_files())


def test_every_module_the_pages_import_is_served():
    """The pages import each other relatively ("./charts.js"): every import names a file of the allow-list."""
    import re

    served = console.static_files()
    for name in [n for n in served if n.endswith(".js")]:
        for target in re.findall(r'^import [^;]*? from "\./([^"]+)";', served[name].body, re.M):
            assert target in served, (name, target)
    assert {"charts.js", "page-jobs.js", "page-incidents.js", "page-media.js"} <= set(served)
    for page in ("page-jobs.js", "page-incidents.js", "page-media.js"):
        assert 'from "./charts.js"' in served[page].body, page


def test_the_charts_need_nothing_the_policy_forbids():
    """charts.js draws inline SVG with presentation attributes and CSS classes: no inline style (``style-src
    'self'`` refuses style attributes), no HTML strings, no script evaluation, no third-party code."""
    import re

    src = console.static_files()["charts.js"].body
    assert not re.search(r"\.style\b|[\"']style[\"']|innerHTML|outerHTML|insertAdjacentHTML|\beval\(|new Function|<script", src)
    assert not re.search(r"^import ", src, re.M)  # standalone: nothing imported, nothing vendored
    csp = console.content_security_policy()
    assert "style-src 'self';" in csp and "script-src 'self';" in csp and "unsafe" not in csp
    css = console.static_files()["console.css"].body
    for cls in ("tone-ok", "tone-bad", "marker-resolved", "marker-reopened", "chart-table", "sparkline"):
        assert f".{cls}" in css, cls


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/..%2Froutes.py",
        "/console/static/%2e%2e%2froutes.py",
        "/console/static/..%2F..%2Fapp.py",
        "/console/static/routes.py",
        "/console/static/__init__.py",
        "/console/static/..",
        "/console/static/.hidden.js",
        "/console/static/APP.JS",
        "/console/static/app.js%00.css",
        "/console/static/../routes.py",
        "/console/static/../../app.py",
        "/console/static/%2Fetc%2Fpasswd",
        "/console/static/....%2F%2Froutes.py",
    ],
)
def test_no_path_traversal(client, path):
    r = client.http.get(path)
    assert r.status_code in (403, 404), (path, r.status_code)
    text = r.body.decode(errors="replace")
    assert "import" not in text and "root:" not in text and "Chalice(" not in text


def test_the_allow_list_only_holds_flat_known_files():
    for name in console.static_files():
        assert "/" not in name and not name.startswith(".")
        assert (console.STATIC_DIR / name).resolve().parent == console.STATIC_DIR


def test_dev_sign_in_mints_verifiable_tokens(client):
    from chalicelib.core.auth import verify_token

    r = client.http.post("/console/dev-sign-in", headers={"Content-Type": "application/json"}, body=json.dumps({"role": "admin"}))
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    out = json.loads(r.body)
    claims = verify_token(out["token"])
    assert (claims["role"], claims["sub"]) == ("admin", pages.DEV_ADMIN_SUB) == (out["role"], out["sub"])

    r = client.http.post(
        "/console/dev-sign-in", headers={"Content-Type": "application/json"}, body=json.dumps({"role": "customer"})
    )
    assert verify_token(json.loads(r.body)["token"])["sub"] == pages.DEV_CUSTOMER_SUB
    body = json.dumps({"role": "customer", "sub": "cust-7"})
    r = client.http.post("/console/dev-sign-in", headers={"Content-Type": "application/json"}, body=body)
    assert verify_token(json.loads(r.body)["token"])["sub"] == "cust-7"

    for bad in ({"role": "root"}, {}, {"role": "admin", "sub": "has space"}, {"role": "admin", "extra": 1}):
        r = client.http.post("/console/dev-sign-in", headers={"Content-Type": "application/json"}, body=json.dumps(bad))
        assert r.status_code == 400 and json.loads(r.body)["error"]["code"] == "validation_error"


def test_on_a_cognito_stage_the_dev_sign_in_does_not_exist():
    """A prod-configured app, in a fresh interpreter (settings and the route registry are process-wide)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACADEMY_", "AWS_"))}
    env.update(
        {
            "ACADEMY_STAGE": "prod",
            "ACADEMY_AUTH_MODE": "cognito",
            "ACADEMY_COGNITO_JWKS_URL": "https://cognito-idp.us-east-1.amazonaws.com/pool/.well-known/jwks.json",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "ACADEMY_BUCKET": "academy-prod-media-123456789012",
        }
    )
    code = textwrap.dedent(
        """
        import json
        from chalice.test import Client
        from app import app
        from chalicelib.core.api import ROUTES, openapi_document
        from chalicelib.core.settings import get_settings
        assert get_settings().auth_mode == "cognito"
        declared = sorted({(s.path, s.method) for s in ROUTES})
        routed = sorted({(p, m) for p, methods in app.routes.items() for m in methods})
        with Client(app) as c:
            post = c.http.post("/console/dev-sign-in", headers={"Content-Type": "application/json"}, body='{"role": "admin"}')
            page = c.http.get("/console").body.decode()
        print(json.dumps({
            "declared_equals_routed": declared == routed,
            "in_routes": any(p == "/console/dev-sign-in" for p, _ in declared),
            "in_app": "/console/dev-sign-in" in app.routes,
            "in_openapi": "/console/dev-sign-in" in openapi_document()["paths"],
            "console_routed": "/console" in app.routes,
            "post_status": post.status_code,
            "page_flag": 'data-dev-sign-in="false"' in page,
        }))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts == {
        "declared_equals_routed": True,
        "in_routes": False,
        "in_app": False,
        "in_openapi": False,
        "console_routed": True,
        "post_status": facts["post_status"],
        "page_flag": True,
    }
    assert facts["post_status"] in (403, 404)


def test_the_content_security_policy_reaches_this_stacks_bucket_only(aws, monkeypatch):
    from chalicelib.core.settings import get_settings

    bucket = get_settings().bucket_name
    pages.bucket_origins.cache_clear()
    csp = console.content_security_policy()
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src"))
    assert f"https://{bucket}.s3.amazonaws.com" in connect.split()
    assert "*" not in csp and "cognito" not in csp  # no wildcard host; dev auth: no user pool to reach

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    csp = console.content_security_policy()
    assert "http://127.0.0.1:4566" in next(d for d in csp.split("; ") if d.startswith("connect-src")).split()
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert "127.0.0.1" not in console.content_security_policy()


def test_on_a_cognito_stage_the_policy_also_reaches_the_user_pool(aws, monkeypatch):
    import dataclasses

    from chalicelib.core.settings import get_settings

    cognito = dataclasses.replace(get_settings(), auth_mode="cognito", region="eu-west-1")
    connect = next(d for d in console.content_security_policy(cognito).split("; ") if d.startswith("connect-src")).split()
    assert "https://cognito-idp.eu-west-1.amazonaws.com" in connect
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    connect = next(d for d in console.content_security_policy(cognito).split("; ") if d.startswith("connect-src")).split()
    assert "http://127.0.0.1:5000" in connect and not any("cognito-idp" in c for c in connect)
