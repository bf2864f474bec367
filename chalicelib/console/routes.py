"""The console: ``/console`` pages (one HTML shell per page), their static files, and the dev sign-in.

Plain HTML + ES modules + CSS from ``chalicelib/console/static`` (shipped by ``chalice package``):
no build step, no third-party code. Every page is the same shell (:func:`domain.shell_html`);
``static/app.js`` reads ``data-page`` and loads the page's module. The pages talk to the JSON API
with the bearer token the user pasted (kept in ``sessionStorage``).

Static files are served from an allow-list built on the first console request (flat names only), so
a request can never reach outside the folder: ``../``, encoded slashes or unknown names are a plain
404. Files are revalidated on every use (``no-cache`` + ``ETag``), so a deploy is seen at once.

``POST /console/dev-sign-in`` mints a development token. It is registered **only** when the stage
verifies dev-signed tokens (``auth_mode == "dev"``, the local stack and tests); on Cognito stages
the route does not exist at all, neither in the app's route table nor in ``/openapi.json``. That is
the one setting read at import: the route table is fixed when the app is built.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.console import domain
from chalicelib.console.domain import CONTENT_TYPES, PAGES, SECURITY_HEADERS, Page
from chalicelib.core.api import Reply, Req, route, schemas
from chalicelib.core.auth import mint_dev_token
from chalicelib.core.errors import NotFound
from chalicelib.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.console.schemas import DevSignInIn

bp = Blueprint(__name__)
S = schemas("chalicelib.console.schemas")  # the models, imported on first use

STATIC_DIR = Path(__file__).resolve().parent / "static"


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
        if path.is_file() and domain.STATIC_NAME.match(path.name):
            data = path.read_bytes()
            etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
            files[path.name] = StaticFile(data.decode("utf-8"), CONTENT_TYPES[path.suffix], etag)
    return files


def _cognito_endpoint(settings: Settings) -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER") or os.environ.get("AWS_ENDPOINT_URL", "")
    return domain.cognito_endpoint(settings.region, endpoint)


def content_security_policy(settings: Settings | None = None) -> str:
    """This stack's policy (``settings``: the stage's, by default; the endpoints: from the environment, at each call)."""
    settings = settings or get_settings()
    s3 = domain.bucket_origins(settings.bucket_name, settings.region, os.environ.get("AWS_ENDPOINT_URL", ""))
    return domain.content_security_policy(s3, _cognito_endpoint(settings) if settings.auth_mode == "cognito" else None)


def dev_sign_in_enabled() -> bool:
    """The one-click sign-in exists only where dev-signed tokens are what the API verifies."""
    return get_settings().dev_auth


def mount_root(req: Req[Any, Any], depth: int) -> str:
    """The API's mount root, from the path the client asked for (see :func:`domain.mount_root`)."""
    context = getattr(req.raw, "context", None) or {}
    return domain.mount_root(str(context.get("path") or "/"), depth)


def render_shell(page: Page | None, status: int = 200, message: str = "", root: str = "/") -> Response:
    """A page's HTML shell as a response, with the policy and security headers every page carries."""
    settings = get_settings()
    body = domain.shell_html(
        page, status=status, message=message, root=root, stage=settings.stage, dev_sign_in=dev_sign_in_enabled()
    )
    headers: dict[str, str | list[str]] = {
        "Content-Type": CONTENT_TYPES[".html"],
        "Cache-Control": "no-cache",
        "Content-Security-Policy": content_security_policy(settings),
        **SECURITY_HEADERS,
    }
    return Response(body=body, status_code=status, headers=headers)


@route(bp, "/console", "GET", auth="public", tag="console", media={200: ("text/html",)})
def console_home(req: Req[None, None]) -> Response:
    """The console's start page: sign in, then the pages your role can use."""
    return render_shell(None, root=mount_root(req, 1))


@route(bp, "/console/{area}/{page}", "GET", auth="public", tag="console", media={200: ("text/html",), 404: ("text/html",)})
def console_page(req: Req[None, None], area: str, page: str) -> Response:
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
def console_static(req: Req[None, None], name: str) -> Response:
    """A console asset (JS module, CSS, SVG) from the allow-list; revalidated with its ETag."""
    file = static_files().get(name)
    if file is None:
        raise NotFound("There is no such console file.", code="not_found")
    headers: dict[str, str | list[str]] = {
        "Content-Type": file.content_type,
        "Cache-Control": "no-cache",
        "ETag": file.etag,
        **SECURITY_HEADERS,
    }
    if req.headers.get("if-none-match") == file.etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=file.body, status_code=200, headers=headers)


@route(bp, "/console/config", "GET", auth="public", response=S.ConsoleConfigOut, tag="console")
def console_config(req: Req[None, None]) -> dict[str, Any]:
    """How the console signs people in here: dev (one click, local only) or the user pool (email and password)."""
    settings = get_settings()
    out: dict[str, Any] = {"auth": "none", "stage": settings.stage, "region": settings.region}
    if settings.dev_auth:
        out["auth"] = "dev"
    elif settings.auth_mode == "cognito":
        out.update(
            auth="cognito",
            client_id=settings.cognito_client_id or settings.jwt_audience,
            cognito_endpoint=_cognito_endpoint(settings),
        )
    return out


if dev_sign_in_enabled():  # the route table is decided here, once (see the module's docstring)

    @route(bp, "/console/dev-sign-in", "POST", auth="public", body=S.DevSignInIn, response=S.DevSignInOut, tag="console")
    def dev_sign_in(req: Req[DevSignInIn, None]) -> Reply:
        """Local stage only: a development token for the admin or the demo customer (absent on other stages)."""
        body = req.body
        sub = body.sub or (domain.DEV_ADMIN_SUB if body.role == "admin" else domain.DEV_CUSTOMER_SUB)
        ttl = domain.DEV_TOKEN_TTL_S
        token = mint_dev_token(body.role, sub, ttl_seconds=ttl)
        return Reply({"token": token, "role": body.role, "sub": sub, "expires_in": ttl}, headers={"Cache-Control": "no-store"})
