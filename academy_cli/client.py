"""The one HTTP client of a stack's API: ``academy jobs|tasks|seed|tick``, the load test and the benchmarks.

- A base URL (a rehearsal's ``…/api`` too) and a bearer token: the client's own, or one per call
  (``token=``); tokens come from :mod:`academy_cli.stack_tokens`, the client only sends them.
- JSON in and out: ``call`` returns the decoded body (``None`` when empty).
- The error envelope ``{"error": {"code", "message", "details"}}`` of a refused request becomes
  :class:`ApiError` (status, code, message, details; a ``click`` error, so a command that lets one
  escape prints ``message (status code)``); no answer at all (refused connection, timeout) becomes
  :class:`Unreachable`.
- Timeouts: ``timeout_s`` per request.
- Retries: only where the server asks for one and the caller opts in, :meth:`ApiClient.call_waiting`
  (``academy tasks``' 409 ``instance_writer_busy``: wait ``details.retry_after_s``, else
  ``Retry-After``, 1-60 s, then send the same request again). Nothing else is retried: a 503 is the
  caller's to see (the load test counts every 5xx).
- :class:`AsyncApiClient`: the same over one asyncio connection pool (the load test); its
  :meth:`~AsyncApiClient.send` returns the raw response and lets transport errors through, for callers
  that time requests and judge statuses themselves.

``httpx`` is imported when a client is made, not with this module (every ``academy`` command loads
the command modules that import it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import click

if TYPE_CHECKING:
    import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
Sleep = Callable[[float], None]


class ApiError(click.ClickException):
    """A refused request: the API's error envelope (or, without one, ``http_error`` and the body's start)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        method: str = "",
        path: str = "",
        retry_after: str | None = None,
    ) -> None:
        super().__init__(f"{message} ({status} {code})")
        self.status, self.code, self.details = status, code, details or {}
        self.method, self.path, self.retry_after = method, path, retry_after

    def wait_s(self, default: int = 5) -> int:
        """Seconds the server asks the caller to wait before trying again (1-60)."""
        told = self.details.get("retry_after_s") or self.retry_after or default
        try:
            seconds = int(told)
        except (TypeError, ValueError):
            seconds = default
        return min(60, max(1, seconds))


class Unreachable(click.ClickException):
    """No answer from the API (nothing listens, or it did not answer in time)."""

    def __init__(self, url: str, reason: object) -> None:
        super().__init__(f"No API answers at {url} ({reason}); is the stack up (academy up)?")
        self.url = url


@dataclass(frozen=True)
class ClientOptions:
    """How clients made for a command wait (a test hands its own: ``CliRunner().invoke(cli, args, obj=ClientOptions(...))``)."""

    sleep: Sleep = time.sleep


def error_of(resp: httpx.Response, method: str = "", path: str = "") -> ApiError:
    """The :class:`ApiError` a non-2xx (or unexpected) response stands for."""
    raw = resp.content
    where = {"method": method, "path": path, "retry_after": resp.headers.get("Retry-After")}
    try:
        err = json.loads(raw)["error"]
        if not isinstance(err, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        text = raw.decode(errors="replace")[:300] or resp.reason_phrase
        return ApiError(resp.status_code, "http_error", text, **where)
    return ApiError(resp.status_code, err.get("code", "error"), err.get("message", ""), err.get("details"), **where)


class _Base:
    """What the sync and async clients share: headers, query, judging a response."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout_s: float = 60.0) -> None:
        self.base_url, self.token, self.timeout_s = base_url.rstrip("/"), token, timeout_s

    def _headers(self, token: str | None) -> dict[str, str]:
        bearer = token if token is not None else self.token
        return {"Accept": "application/json", **({"Authorization": f"Bearer {bearer}"} if bearer else {})}

    @staticmethod
    def _query(params: dict[str, Any] | None) -> dict[str, Any] | None:
        kept = {k: v for k, v in (params or {}).items() if v is not None}
        return kept or None

    @staticmethod
    def _judge(resp: httpx.Response, method: str, path: str, ok: Collection[int] | None) -> Any:
        if (resp.status_code in ok) if ok else resp.is_success:
            return resp.json() if resp.content else None
        raise error_of(resp, method, path)


class ApiClient(_Base):
    """A blocking client over one keep-alive connection pool (``close()`` it, or use it as a context manager)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout_s: float = 60.0, sleep: Sleep = time.sleep) -> None:
        super().__init__(base_url, token, timeout_s=timeout_s)
        self.sleep = sleep
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            import httpx

            self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout_s)
        return self._http

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def send(
        self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        """The raw response (any status); transport errors are ``httpx``'s."""
        return self.http.request(method, path, json=body, params=self._query(query), headers=self._headers(token))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        token: str | None = None,
        ok: Collection[int] | None = None,
    ) -> Any:
        """The decoded JSON answer; :class:`ApiError` unless the status is in ``ok`` (default: any 2xx)."""
        import httpx

        try:
            resp = self.send(method, path, body, query=query, token=token)
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, str(exc) or type(exc).__name__) from exc
        return self._judge(resp, method, path, ok)

    def call_waiting(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        codes: Collection[str],
        attempts: int,
        on_wait: Callable[[ApiError, int], None] | None = None,
        **kw: Any,
    ) -> Any:
        """:meth:`call`; a refusal with one of ``codes`` is waited out (as long as the server says) and the
        same request sent again, up to ``attempts`` more times (the request must be idempotent)."""
        for attempt in range(attempts + 1):
            try:
                return self.call(method, path, body, **kw)
            except ApiError as exc:
                if exc.code not in codes or attempt == attempts:
                    raise
                wait_s = exc.wait_s()
                if on_wait is not None:
                    on_wait(exc, wait_s)
                self.sleep(wait_s)
        raise AssertionError("unreachable")

    def pages(
        self, path: str, query: dict[str, Any] | None = None, *, token: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Every item of a paged list (``limit``/``next_token``), page after page."""
        items: list[dict[str, Any]] = []
        next_token: str | None = None
        while True:
            page = self.call("GET", path, query={**(query or {}), "limit": limit, "next_token": next_token}, token=token)
            items.extend(page["items"])
            next_token = page.get("next_token")
            if not next_token:
                return items


class AsyncApiClient(_Base):
    """The asyncio client: one pool of up to ``max_connections`` connections (httpx's default pool when ``None``)."""

    def __init__(
        self, base_url: str, token: str | None = None, *, timeout_s: float = 30.0, max_connections: int | None = None
    ) -> None:
        import httpx

        super().__init__(base_url, token, timeout_s=timeout_s)
        limits = (
            httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
            if max_connections
            else httpx.Limits(max_connections=100, max_keepalive_connections=20)
        )
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, limits=limits)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def send(
        self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        """The raw response (any status); transport errors are ``httpx``'s (``httpx.HTTPError``)."""
        return await self.http.request(method, path, json=body, params=self._query(query), headers=self._headers(token))

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        token: str | None = None,
        ok: Collection[int] | None = None,
    ) -> Any:
        """As :meth:`ApiClient.call`."""
        import httpx

        try:
            resp = await self.send(method, path, body, query=query, token=token)
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, str(exc) or type(exc).__name__) from exc
        return self._judge(resp, method, path, ok)

    async def pages(
        self, path: str, query: dict[str, Any] | None = None, *, token: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """As :meth:`ApiClient.pages`."""
        items: list[dict[str, Any]] = []
        next_token: str | None = None
        while True:
            query_ = {**(query or {}), "limit": limit, "next_token": next_token}
            page = await self.call("GET", path, query=query_, token=token)
            items.extend(page["items"])
            next_token = page.get("next_token")
            if not next_token:
                return items

    async def post_form(self, url: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> httpx.Response:
        """A browser-style multipart POST to an absolute URL, without the bearer (a presigned S3 upload form)."""
        return await self.http.post(url, data=fields, files=files)


def cli_client(ctx: click.Context, url: str, token: str | None, *, timeout_s: float) -> ApiClient:
    """The client of a command group: ``token``, else an admin token the stack serving ``url`` accepts
    (subject ``cli-<user>``, an hour); closed when the command ends; waits as :class:`ClientOptions` says."""
    options = ctx.find_object(ClientOptions) or ClientOptions()
    client = ApiClient(url, _admin_token(token, url), timeout_s=timeout_s, sleep=options.sleep)
    ctx.call_on_close(client.close)
    return client


def _admin_token(explicit: str | None, url: str) -> str:
    if explicit:
        return explicit
    import getpass

    from academy_cli.stack_tokens import StackTokens, TokenError

    try:
        return StackTokens.for_url(url).mint("admin", f"cli-{getpass.getuser()}", ttl_seconds=3600)
    except TokenError as exc:
        raise click.ClickException(f"{exc}; pass --token or set ACADEMY_TOKEN") from exc
