"""The console: ``/console`` pages (one HTML shell per page), their static files, and the dev sign-in.

Plain HTML + ES modules + CSS from ``chalicelib/console/static`` (shipped by ``chalice package``):
no build step, no third-party code. Every page is the same shell; ``static/app.js`` reads
``data-page`` and loads the page's module. The pages talk to the JSON API with the bearer token
the user pasted (kept in ``sessionStorage``).

Static files are served from an allow-list built at import (flat names only), so a request can
never reach outside the folder: ``../``, encoded slashes or unknown names are a plain 404.
Files are revalidated on every use (``no-cache`` + ``ETag``), so a deploy is seen at once.

Every URL the console uses is under the API's mount root, never root-absolute: the shell's links
come from the path the client asked for (``requestContext.path``: ``/api/console`` under API
Gateway's stage path, ``/console`` at the root or on a custom domain), and the ES modules import
each other relatively and derive the root from their own URL (``api.js``'s ``apiPath``).

``POST /console/dev-sign-in`` mints a development token. It is registered **only** when the stage
verifies dev-signed tokens (``auth_mode == "dev"``, the local stack and tests); on Cognito stages
the route does not exist at all, neither in the app's route table nor in ``/openapi.json``.
"""

from __future__ import annotations

import functools
import hashlib
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from chalice import Blueprint, Response

from chalicelib.core.api import Reply, Req, route, schemas
from chalicelib.core.auth import mint_dev_token
from chalicelib.core.errors import NotFound
from chalicelib.core.settings import get_settings

bp = Blueprint(__name__)
S = schemas("chalicelib.console.schemas")  # the models, imported on first use

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(js|css|svg)$")
_MOUNT_ROOT = re.compile(r"^/(?:[A-Za-z0-9._~-]+/)*$")
DEV_ADMIN_SUB = "admin-local"
DEV_CUSTOMER_SUB = "cust-demo-1"  # the customer `academy seed` gives students


@dataclass(frozen=True)
class Page:
    """One console page: who it is for, its title and the ES module that renders it."""

    area: Literal["admin", "customer"]
    slug: str
    title: str
    module: str


PAGES: dict[tuple[str, str], Page] = {
    (p.area, p.slug): p
    for p in (
        Page("admin", "schedules", "Schedules", "page-schedules.js"),
        Page("admin", "tasks", "Tasks", "page-tasks.js"),
        Page("admin", "media", "Media", "page-media.js"),
        Page("admin", "jobs", "Jobs", "page-jobs.js"),
        Page("admin", "incidents", "Incident Hub", "page-incidents.js"),
        Page("customer", "homework", "Homework upload", "page-upload.js"),
        Page("customer", "videos", "Video upload", "page-upload.js"),
    )
}


@dataclass(frozen=True)
class StaticFile:
    body: str
    content_type: str
    etag: str


@functools.cache
def static_files() -> dict[str, StaticFile]:
    """Every servable file, read once (on the first console request, not at cold start): the allow-list
    *is* the directory listing (flat, known types)."""
    files: dict[str, StaticFile] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file() and _STATIC_NAME.match(path.name):
            data = path.read_bytes()
            etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
            files[path.name] = StaticFile(data.decode("utf-8"), CONTENT_TYPES[path.suffix], etag)
    return files


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


@functools.cache
def _bucket_origins(bucket: str, region: str, endpoint: str) -> tuple[str, ...]:
    """Where this stack's presigned URLs point: the emulator's endpoint locally (``AWS_ENDPOINT_URL``, path-style),
    else the bucket's virtual-hosted S3 names (global and regional), which is what botocore signs for."""
    origins: list[str] = []
    if endpoint and (origin := _origin(endpoint)) and origin not in origins:
        origins.append(origin)
    if not endpoint:
        for host in (f"https://{bucket}.s3.amazonaws.com", f"https://{bucket}.s3.{region}.amazonaws.com"):
            if host not in origins:
                origins.append(host)
    return tuple(origins)


def cognito_endpoint() -> str:
    """The user pool's API (``InitiateAuth``), or the emulator's when ``AWS_ENDPOINT_URL`` is set."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER") or os.environ.get("AWS_ENDPOINT_URL", "")
    if origin := _origin(endpoint):
        return origin + "/"
    return f"https://cognito-idp.{get_settings().region}.amazonaws.com/"


def content_security_policy() -> str:
    """Scripts and styles from this origin only; uploads, posters and variants reach this stack's bucket
    only, and sign-in (Cognito stages) its user pool's endpoint only."""
    settings = get_settings()
    s3 = " ".join(_bucket_origins(settings.bucket_name, settings.region, os.environ.get("AWS_ENDPOINT_URL", "")))
    connect = f"'self' {s3}"
    if settings.auth_mode == "cognito":
        connect += " " + cognito_endpoint().rstrip("/")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: {s3}; media-src 'self' {s3}; connect-src {connect}; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _security_headers() -> dict[str, str]:
    return {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def dev_sign_in_enabled() -> bool:
    """The one-click sign-in exists only where dev-signed tokens are what the API verifies."""
    return get_settings().dev_auth


def mount_root(req: Req, depth: int) -> str:
    """Where the API is mounted (``/``, or ``/api/`` under the stage path): the path the client asked
    for less the route's own ``depth`` segments. Anything unexpected falls back to ``/``."""
    context = getattr(req.raw, "context", None) or {}
    segments = [s for s in str(context.get("path") or "/").split("/") if s]
    root = "/" + "".join(f"{s}/" for s in segments[:-depth]) if len(segments) > depth else "/"
    return root if _MOUNT_ROOT.match(root) and ".." not in root.split("/") else "/"


def render_shell(page: Page | None, status: int = 200, message: str = "", root: str = "/") -> Response:
    """The HTML shell every page shares; ``app.js`` renders the page named in ``data-page``.
    ``root`` is the API's mount root (:func:`mount_root`): every URL in the shell is under it."""
    title = page.title if page else ("Sign in" if status == 200 else "Page not found")
    page_id = f"{page.area}/{page.slug}" if page else ("home" if status == 200 else "not-found")
    module = page.module if page else ""
    base = html.escape(f"{root}console/")
    settings = get_settings()
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{html.escape(title)} · Academy Ops</title>
<link rel="icon" href="{base}static/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{base}static/console.css">
<script type="module" src="{base}static/app.js"></script>
</head>
<body data-page="{html.escape(page_id)}" data-module="{html.escape(module)}" data-title="{html.escape(title)}"
      data-stage="{html.escape(settings.stage)}" data-dev-sign-in="{"true" if dev_sign_in_enabled() else "false"}">
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar" id="topbar"><a class="brand" href="{html.escape(root)}console">Academy Ops</a></header>
<div class="layout">
<nav class="sidenav" id="sidenav" aria-label="Console"></nav>
<main id="main" tabindex="-1">
<h1>{html.escape(title)}</h1>
<p class="muted">{html.escape(message) or "Loading…"}</p>
<noscript><p class="alert alert-error">The console needs JavaScript to be enabled.</p></noscript>
</main>
</div>
</body>
</html>
"""
    headers = {
        "Content-Type": CONTENT_TYPES[".html"],
        "Cache-Control": "no-cache",
        "Content-Security-Policy": content_security_policy(),
        **_security_headers(),
    }
    return Response(body=body, status_code=status, headers=headers)


@route(bp, "/console", "GET", auth="public", tag="console", media={200: ("text/html",)})
def console_home(req: Req) -> Response:
    """The console's start page: sign in, then the pages your role can use."""
    return render_shell(None, root=mount_root(req, 1))


@route(bp, "/console/{area}/{page}", "GET", auth="public", tag="console", media={200: ("text/html",), 404: ("text/html",)})
def console_page(req: Req, area: str, page: str) -> Response:
    """A console page (HTML shell); unknown pages are a 404 page."""
    found = PAGES.get((area, page))
    if found is None:
        return render_shell(None, 404, "There is no such page. Use the menu to find what you need.", mount_root(req, 3))
    return render_shell(found, root=mount_root(req, 3))


@route(
    bp,
    "/console/static/{name}",
    "GET",
    auth="public",
    tag="console",
    media={200: tuple(sorted(set(CONTENT_TYPES.values()))), 304: ()},
)
def console_static(req: Req, name: str) -> Response:
    """A console asset (JS module, CSS, SVG) from the allow-list; revalidated with its ETag."""
    file = static_files().get(name)
    if file is None:
        raise NotFound("There is no such console file.", code="not_found")
    headers = {"Content-Type": file.content_type, "Cache-Control": "no-cache", "ETag": file.etag, **_security_headers()}
    if req.headers.get("if-none-match") == file.etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=file.body, status_code=200, headers=headers)


@route(bp, "/console/config", "GET", auth="public", response=S.ConsoleConfigOut, tag="console")
def console_config(req: Req) -> dict[str, Any]:
    """How the console signs people in here: dev (one click, local only) or the user pool (email and password)."""
    settings = get_settings()
    out: dict[str, Any] = {"auth": "none", "stage": settings.stage, "region": settings.region}
    if settings.dev_auth:
        out["auth"] = "dev"
    elif settings.auth_mode == "cognito":
        out.update(
            auth="cognito",
            client_id=settings.cognito_client_id or settings.jwt_audience,
            cognito_endpoint=cognito_endpoint(),
        )
    return out


if dev_sign_in_enabled():

    @route(bp, "/console/dev-sign-in", "POST", auth="public", body=S.DevSignInIn, response=S.DevSignInOut, tag="console")
    def dev_sign_in(req: Req) -> Reply:
        """Local stage only: a development token for the admin or the demo customer (absent on other stages)."""
        body: S.DevSignInIn = req.body
        sub = body.sub or (DEV_ADMIN_SUB if body.role == "admin" else DEV_CUSTOMER_SUB)
        ttl = 8 * 3600
        token = mint_dev_token(body.role, sub, ttl_seconds=ttl)
        return Reply({"token": token, "role": body.role, "sub": sub, "expires_in": ttl}, headers={"Cache-Control": "no-store"})
