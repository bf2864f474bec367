"""The console's rules, with no HTTP framework or AWS in them: its pages, the types of its static
files, the mount root of its URLs, the content security policy and the HTML shell every page shares.

Every URL the console uses is under the API's mount root, never root-absolute: the shell's links
come from the path the client asked for (``requestContext.path``: ``/api/console`` under API
Gateway's stage path, ``/console`` at the root or on a custom domain), and the ES modules import
each other relatively and derive the root from their own URL (``api.js``'s ``apiPath``).
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(js|css|svg)$")  # flat names of known types: the allow-list's rule
_MOUNT_ROOT = re.compile(r"^/(?:[A-Za-z0-9._~-]+/)*$")
DEV_ADMIN_SUB = "admin-local"
DEV_CUSTOMER_SUB = "cust-demo-1"  # the customer `academy seed` gives students
DEV_TOKEN_TTL_S = 8 * 3600


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
        Page("admin", "students", "Students", "page-students.js"),
        Page("admin", "family", "Families", "page-family.js"),
        Page("admin", "schedules", "Schedules", "page-schedules.js"),
        Page("admin", "tasks", "Tasks", "page-tasks.js"),
        Page("admin", "homework", "Homework", "page-homework.js"),
        Page("admin", "media", "Media", "page-media.js"),
        Page("admin", "jobs", "Jobs", "page-jobs.js"),
        Page("admin", "monitors", "Monitors", "page-monitors.js"),
        Page("admin", "alerts", "Alerts", "page-alerts.js"),
        Page("admin", "costs", "Costs", "page-costs.js"),
        Page("admin", "incidents", "Incident Hub", "page-incidents.js"),
        Page("customer", "homework", "Homework upload", "page-upload.js"),
        Page("customer", "videos", "Video upload", "page-upload.js"),
        Page("customer", "tasks", "Tasks", "page-family-tasks.js"),
        Page("admin", "lessons", "Lessons", "page-lessons.js"),
        Page("customer", "lessons", "Lessons & attendance", "page-family-lessons.js"),
    )
}

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


@functools.cache
def bucket_origins(bucket: str, region: str, endpoint: str) -> tuple[str, ...]:
    """Where this stack's presigned URLs point: the emulator's endpoint locally (``AWS_ENDPOINT_URL``, path-style),
    else the bucket's virtual-hosted S3 names (global and regional), which is what botocore signs for."""
    origins: list[str] = []
    if endpoint and (found := origin(endpoint)) and found not in origins:
        origins.append(found)
    if not endpoint:
        for host in (f"https://{bucket}.s3.amazonaws.com", f"https://{bucket}.s3.{region}.amazonaws.com"):
            if host not in origins:
                origins.append(host)
    return tuple(origins)


def cognito_endpoint(region: str, endpoint: str) -> str:
    """The user pool's API (``InitiateAuth``), or the emulator's when ``endpoint`` (from the environment) is set."""
    if found := origin(endpoint):
        return found + "/"
    return f"https://cognito-idp.{region}.amazonaws.com/"


def content_security_policy(s3_origins: tuple[str, ...], cognito: str | None) -> str:
    """Scripts and styles from this origin only; uploads, posters and variants reach this stack's bucket
    only, and sign-in (Cognito stages: ``cognito``) its user pool's endpoint only."""
    s3 = " ".join(s3_origins)
    connect = f"'self' {s3}"
    if cognito is not None:
        connect += " " + cognito.rstrip("/")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: {s3}; media-src 'self' {s3}; connect-src {connect}; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def mount_root(path: str, depth: int) -> str:
    """Where the API is mounted (``/``, or ``/api/`` under the stage path): the path the client asked
    for less the route's own ``depth`` segments. Anything unexpected falls back to ``/``."""
    segments = [s for s in path.split("/") if s]
    root = "/" + "".join(f"{s}/" for s in segments[:-depth]) if len(segments) > depth else "/"
    return root if _MOUNT_ROOT.match(root) and ".." not in root.split("/") else "/"


def shell_html(page: Page | None, *, status: int, message: str, root: str, stage: str, dev_sign_in: bool) -> str:
    """The HTML shell every page shares; ``app.js`` renders the page named in ``data-page``.
    ``root`` is the API's mount root (:func:`mount_root`): every URL in the shell is under it."""
    title = page.title if page else ("Sign in" if status == 200 else "Page not found")
    page_id = f"{page.area}/{page.slug}" if page else ("home" if status == 200 else "not-found")
    module = page.module if page else ""
    base = html.escape(f"{root}console/")
    return f"""<!doctype html>
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
      data-stage="{html.escape(stage)}" data-dev-sign-in="{"true" if dev_sign_in else "false"}">
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
