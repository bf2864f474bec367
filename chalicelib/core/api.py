"""Declarative routes: auth, body/query validation, error envelope and OpenAPI from one place.

A capability declares a route with :func:`route` on its Chalice blueprint, naming its pydantic
models through :func:`schemas` (a module of models, imported on the first request that needs it, so a
cold start, and every Lambda that never serves HTTP, skips pydantic and the model classes)::

    S = schemas("chalicelib.students.schemas")

    @route(bp, "/admin/students", "POST", auth="admin", body=S.StudentIn, response=S.StudentOut, status=201)
    def create_student(req: Req) -> S.StudentOut: ...   # S.StudentOut(...) constructs one

The view receives a :class:`Req` (principal, validated body and query, ids) plus path parameters,
and returns a pydantic model, a dict, or an :class:`Reply` for a custom status or headers.
Every failure leaves as ``{"error": {...}}``; an unexpected exception is a 500 envelope carrying
the request id, reported through :func:`chalicelib.core.observability.report_unhandled`.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, TypeVar

from chalice import Blueprint, Chalice, Response

from chalicelib.core.auth import ANONYMOUS, Principal, principal_from_header
from chalicelib.core.db import ENTITY_ID
from chalicelib.core.errors import (
    ApiError,
    BadRequest,
    DomainError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    ValidationFailed,
    error_envelope,
)
from chalicelib.core.observability import current_request_id, report_unhandled
from chalicelib.core.settings import get_settings

BodyT = TypeVar("BodyT")
QueryT = TypeVar("QueryT")
Auth = Literal["public", "optional", "user", "admin", "customer"]
JSON_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]


class ModelRef:
    """A model named by module and class, imported on first use (see :func:`schemas`).

    Calling it constructs the model, so a view can write ``S.StudentOut(...)``.
    """

    __slots__ = ("_cls", "module", "name", "paged")

    def __init__(self, module: str, name: str, paged: bool = False) -> None:
        self.module, self.name, self.paged = module, name, paged
        self._cls: Any = None

    def resolve(self) -> Any:
        if self._cls is None:
            cls = getattr(importlib.import_module(self.module), self.name)
            if self.paged:
                from chalicelib.core.schema import page_model

                cls = page_model(cls)
            self._cls = cls
        return self._cls

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"ModelRef({self.module}:{self.name}{'[page]' if self.paged else ''})"


class Schemas:
    """The models of one module, by attribute, without importing it: ``S = schemas("x.schemas"); S.ItemOut``."""

    def __init__(self, module: str) -> None:
        self._module = module
        self._refs: dict[tuple[str, bool], ModelRef] = {}

    def _ref(self, name: str, paged: bool) -> ModelRef:
        key = (name, paged)
        if key not in self._refs:
            self._refs[key] = ModelRef(self._module, name, paged)
        return self._refs[key]

    def __getattr__(self, name: str) -> ModelRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._ref(name, False)

    def page(self, name: str) -> ModelRef:
        """``{"items": [<name>], "next_token"}`` (see :func:`chalicelib.core.schema.page_model`)."""
        return self._ref(name, True)


def schemas(module: str) -> Schemas:
    return Schemas(module)


ModelLike = Any  # a pydantic model class or a ModelRef to one
F = TypeVar("F", bound=Callable[..., Any])


def resolve(model: ModelLike) -> Any:
    return model.resolve() if isinstance(model, ModelRef) else model


LIST_QUERY = ModelRef("chalicelib.core.schema", "ListQuery")  # ``?limit=&next_token=`` of every list route


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class AuditNote:
    """What a route with ``audit=`` records, beyond its action: the view may set the target
    (e.g. a created id), replace the params, and add to the result (the status is added for it)."""

    action: str
    target: str | None = None
    params: dict[str, Any] | None = None
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class Req[BodyT, QueryT]:
    """A validated request: ``Req[StudentIn, None]`` types ``req.body`` and ``req.query`` for the checker."""

    principal: Principal
    body: BodyT
    query: QueryT
    request_id: str
    source_ip: str
    headers: dict[str, str]
    raw: Any  # the chalice Request, for the rare route that needs it
    audit: AuditNote | None = None  # set on routes declared with ``audit=``

    @property
    def actor(self) -> dict[str, str | None]:
        return self.principal.as_actor()


AnyReq = Req[Any, Any]


@dataclass
class RouteSpec:
    path: str
    method: str
    auth: Auth
    body: ModelLike | None
    query: ModelLike | None
    response: ModelLike | None
    status: int
    summary: str
    tag: str
    max_body: int | None  # None: the settings' default_max_body, read at the request
    errors: tuple[int, ...]
    name: str
    media: dict[int, tuple[str, ...]] = field(default_factory=dict)
    also: dict[int, ModelLike | None] = field(default_factory=dict)
    audit: Audit | None = None
    ids: dict[str, re.Pattern[str]] = field(default_factory=dict)
    blueprint: Blueprint | None = None  # where it was declared (the document lists blueprints in registration order)
    module: str = ""  # the module that declared it


@dataclass(frozen=True)
class Audit:
    """What a route records in the audit log: the action and a target built from the path
    parameters (``"schedule:{schedule_id}"``); the validated body is the params unless ``params=False``.
    The route records once per request from a caller it let in (after authentication): ``{"status": ...}``
    plus the view's ``req.audit.result`` on success, ``{"status", "code"}`` for a refused request (a
    malformed id, an invalid body, a domain rule), ``{"status": 500, "error"}`` for a failure."""

    action: str
    target: str | None = None
    params: bool = True


ROUTES: list[RouteSpec] = []
_REGISTERED: list[Blueprint] = []  # in the order the app registered them (see register_blueprints)


def register_blueprints(app: Chalice, blueprints: Sequence[Blueprint]) -> None:
    """Register ``blueprints`` on ``app`` in this order, which is also the order of the OpenAPI document
    (so the document does not depend on the order in which modules happen to be imported)."""
    for bp in blueprints:
        app.register_blueprint(bp)
        if bp not in _REGISTERED:
            _REGISTERED.append(bp)


def _document_order(routes: list[RouteSpec]) -> list[RouteSpec]:
    """Routes grouped by blueprint in registration order, each blueprint's in declaration order;
    routes of blueprints the app never registered (none in the product) come last."""
    rank = {id(bp): n for n, bp in enumerate(_REGISTERED)}
    return sorted(routes, key=lambda spec: rank.get(id(spec.blueprint), len(rank)))


def route(
    bp: Blueprint,
    path: str,
    method: str = "GET",
    *,
    auth: Auth,
    body: ModelLike | None = None,
    query: ModelLike | None = None,
    response: ModelLike | None = None,
    status: int = 200,
    summary: str = "",
    tag: str = "",
    max_body: int | None = None,
    errors: tuple[int, ...] = (),
    media: dict[int, tuple[str, ...]] | None = None,
    also: dict[int, ModelLike | None] | None = None,
    audit: Audit | str | None = None,
    ids: tuple[str, ...] | dict[str, re.Pattern[str]] = (),
) -> Callable[[F], F]:
    """Declare a route.

    ``media`` documents statuses whose body is not JSON (status → media types; ``()``: no body);
    ``also`` documents other success statuses the view may answer with :class:`Reply` (status → model);
    ``audit`` makes the route record itself in the audit log (see :class:`Audit`);
    ``ids`` names the path parameters that are entity ids (checked against ``ENTITY_ID``, or the
    pattern given): a malformed one is a 404 ``<noun>_not_found``, the resource does not exist.
    """
    id_patterns = dict(ids) if isinstance(ids, dict) else {name: ENTITY_ID for name in ids}
    unknown = set(id_patterns) - set(_PATH_PARAM.findall(path))
    if unknown:
        raise ValueError(f"{path}: ids {sorted(unknown)} are not path parameters")

    def decorate(fn: F) -> F:
        spec = RouteSpec(
            path=path,
            method=method.upper(),
            auth=auth,
            body=body,
            query=query,
            response=response,
            status=status,
            summary=summary or (fn.__doc__ or fn.__name__).strip().splitlines()[0],
            tag=tag or path.strip("/").split("/")[0],
            max_body=max_body,
            errors=errors,
            name=fn.__name__,
            media=dict(media or {}),
            also=dict(also or {}),
            audit=Audit(audit) if isinstance(audit, str) else audit,
            ids=id_patterns,
            blueprint=bp,
            module=fn.__module__,
        )
        ROUTES.append(spec)

        def view(**path_params: str) -> Response:
            return _handle(bp, spec, fn, path_params)

        view.__name__ = fn.__name__
        view.__doc__ = fn.__doc__
        bp.route(path, methods=[spec.method], content_types=JSON_TYPES, name=fn.__name__)(view)
        return fn

    return decorate


# --- request handling --------------------------------------------------------------------------


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    hdrs: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if rid := current_request_id():
        hdrs["X-Request-Id"] = rid
    hdrs.update(headers or {})
    return Response(body=json.dumps(body, default=str), status_code=status, headers=hdrs)


def error_response(err: ApiError) -> Response:
    return json_response(err.status, err.envelope(), err.headers)


def _fields_from(exc: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or "(body)"
        out[f"{prefix}{loc}"] = e["msg"]
    return out


def _authorize(spec: RouteSpec, headers: dict[str, str]) -> Principal:
    authz = headers.get("authorization")
    if spec.auth == "public":
        return ANONYMOUS
    if spec.auth == "optional":
        return principal_from_header(authz)  # a bad token is still a 401, not silently anonymous
    principal = principal_from_header(authz)
    if principal is ANONYMOUS:
        raise Unauthorized("Sign in: this route needs 'Authorization: Bearer <token>'.", code="missing_token")
    if spec.auth in ("admin", "customer") and principal.role != spec.auth:
        raise Forbidden(f"This route is for the {spec.auth} role.", code="wrong_role")
    return principal


def _parse_body(spec: RouteSpec, request: Any) -> Any:
    raw = request.raw_body or b""
    limit = spec.max_body or get_settings().default_max_body
    if len(raw) > limit:
        raise PayloadTooLarge(
            f"The body is {len(raw)} bytes; this route accepts at most {limit}.",
            details={"max_bytes": limit, "size_bytes": len(raw)},
        )
    if spec.body is None:
        return None
    if not raw.strip():
        raw = b"{}"
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise BadRequest(f"The body is not valid JSON: {exc}", code="malformed_json") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.", details={"fields": {"(body)": "must be an object"}})
    from pydantic import ValidationError

    try:
        return resolve(spec.body).model_validate(data)
    except ValidationError as exc:
        fields = _fields_from(exc)
        raise ValidationFailed(f"Invalid fields: {', '.join(sorted(fields))}.", details={"fields": fields}) from exc


def _parse_query(spec: RouteSpec, request: Any) -> Any:
    if spec.query is None:
        return None
    from pydantic import ValidationError

    try:
        return resolve(spec.query).model_validate(dict(request.query_params or {}))
    except ValidationError as exc:
        fields = _fields_from(exc, "query.")
        raise ValidationFailed(f"Invalid query parameters: {', '.join(sorted(fields))}.", details={"fields": fields}) from exc


def _serialise(result: Any) -> Any:
    if hasattr(result, "model_dump"):  # a pydantic model
        return result.model_dump(mode="json")
    return result


CURSOR_FIELDS = ("next_token", "cursor")  # where a list (query) or a batch repair (body) takes its cursor back
CURSOR_OUT = ("next_token", "next_cursor")  # where a response hands it out
UNBOUND_FIELDS = frozenset({*CURSOR_FIELDS, "limit"})  # the page size may change between pages


@dataclass
class _ListCursor:
    """The cursor of one list request: sealed on the way out, checked and opened on the way in
    (see :mod:`chalicelib.core.cursors`). The list's identity is the route, its path parameters, the
    filters (the other query or body fields, as validated) and, on customer routes, the caller."""

    source: Literal["query", "body"]
    name: str
    identity: bytes

    @classmethod
    def of(cls, spec: RouteSpec, path_params: dict[str, str], principal: Principal, body: Any, query: Any) -> _ListCursor | None:
        from chalicelib.core import cursors

        sources: tuple[tuple[Literal["query", "body"], Any], ...] = (("query", query), ("body", body))
        for source, model in sources:
            if model is None:
                continue
            name = next((f for f in CURSOR_FIELDS if f in type(model).model_fields), None)
            if name is None:
                continue
            filters = model.model_dump(mode="json", by_alias=True, exclude=UNBOUND_FIELDS)
            caller = principal.id if spec.auth == "customer" else None
            return cls(source, name, cursors.identity(f"{spec.method} {spec.path}", path_params, filters, caller))
        return None

    def open(self, body: Any, query: Any) -> tuple[Any, Any]:
        from chalicelib.core import cursors

        model = query if self.source == "query" else body
        token = getattr(model, self.name)
        if not token:
            return body, query
        opened = model.model_copy(update={self.name: cursors.unseal(token, self.identity, self.name)})
        return (body, opened) if self.source == "query" else (opened, query)

    def seal(self, raw: str) -> str:
        from chalicelib.core import cursors

        return cursors.seal(raw, self.identity)


def _sealed(cursor: _ListCursor | None, body: Any) -> Any:
    if cursor is None or not isinstance(body, dict):
        return body
    for key in CURSOR_OUT:
        if isinstance(body.get(key), str) and body[key]:
            body[key] = cursor.seal(body[key])
    return body


def _check_ids(spec: RouteSpec, path_params: dict[str, str]) -> None:
    for name, pattern in spec.ids.items():
        value = path_params.get(name) or ""
        if not pattern.match(value):
            noun = name.removesuffix("_id")
            raise NotFound(
                f"{noun.replace('_', ' ').capitalize()} {value[:64]} does not exist.",
                code=f"{noun}_not_found",
                details={name: value[:64]},
            )


def _audit_note(spec: RouteSpec, path_params: dict[str, str]) -> AuditNote | None:
    if spec.audit is None:
        return None
    target = spec.audit.target.format(**path_params) if spec.audit.target else None
    return AuditNote(spec.audit.action, target, {})


def _audit_params(note: AuditNote | None, spec: RouteSpec, body: Any) -> None:
    if note is not None and spec.audit is not None and spec.audit.params and hasattr(body, "model_dump"):
        note.params = body.model_dump(mode="json")


def _record(note: AuditNote | None, principal: Principal, outcome: dict[str, Any]) -> None:
    if note is None:
        return
    from chalicelib.core import audit

    audit.record(principal.as_actor(), note.action, note.target, note.params or {}, {**outcome, **note.result})


def _handle(bp: Blueprint, spec: RouteSpec, fn: Callable[..., Any], path_params: dict[str, str]) -> Response:
    request = bp.current_request
    headers = {k.lower(): v for k, v in dict(request.headers or {}).items()}
    request_id = current_request_id() or "unknown"
    principal = ANONYMOUS
    note: AuditNote | None = None
    try:
        principal = _authorize(spec, headers)
        note = _audit_note(spec, path_params)  # from here on, a refused write is recorded too
        _check_ids(spec, path_params)
        body = _parse_body(spec, request)
        query = _parse_query(spec, request)
        cursor = _ListCursor.of(spec, path_params, principal, body, query)
        if cursor is not None:
            body, query = cursor.open(body, query)
        ctx = request.context or {}
        _audit_params(note, spec, body)
        req: AnyReq = Req(
            principal=principal,
            body=body,
            query=query,
            request_id=request_id,
            source_ip=str((ctx.get("identity") or {}).get("sourceIp") or "unknown"),
            headers=headers,
            raw=request,
            audit=note,
        )
        try:
            result = fn(req, **path_params)
        except DomainError as exc:
            raise exc.api_error() from exc
        if isinstance(result, Response):
            _record(note, principal, {"status": result.status_code})
            return result
        if isinstance(result, Reply):
            _record(note, principal, {"status": result.status})
            return json_response(result.status, _sealed(cursor, _serialise(result.body)), result.headers)
        _record(note, principal, {"status": spec.status})
        return json_response(spec.status, _sealed(cursor, _serialise(result)))
    except ApiError as err:
        _record(note, principal, {"status": err.status, "code": err.code})
        return error_response(err)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: envelope + incident
        throttled = _is_throttling(exc)
        status = 503 if throttled else 500
        _record(note, principal, {"status": status, "error": type(exc).__name__})
        report_unhandled(
            exc,
            {
                "kind": "route",
                "route": f"{spec.method} {spec.path}",
                "path_params": path_params,
                "request_id": request_id,
                "http_status": status,
                "actor": principal.as_actor(),
            },
        )
        if throttled:
            return json_response(
                503,
                error_envelope("busy", "The service is busy right now; try again shortly.", {"request_id": request_id}),
                {"Retry-After": "2"},
            )
        return json_response(
            500,
            error_envelope(
                "internal_error", "Something went wrong on our side; it has been recorded.", {"request_id": request_id}
            ),
        )


THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "SlowDown",
        "TransactionInProgressException",
    }
)


def _is_throttling(exc: BaseException | None) -> bool:
    """AWS said "slow down" (after botocore's own retries): a 503 with Retry-After, not a mystery 500."""
    seen = 0
    while exc is not None and seen < 10:
        code = getattr(exc, "cause_response_code", None) or (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
        if code in THROTTLING_CODES:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


# --- OpenAPI ------------------------------------------------------------------------------------

_PATH_PARAM = re.compile(r"{(\w+)}")


def _schema_ref(model: ModelLike, components: dict[str, Any]) -> dict[str, str]:
    model = resolve(model)
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi_document(routes: list[RouteSpec] | None = None, title: str = "Academy Ops API") -> dict[str, Any]:
    from chalicelib.core.schema import ErrorEnvelope

    components: dict[str, Any] = {}
    error_ref = _schema_ref(ErrorEnvelope, components)
    paths: dict[str, Any] = {}
    for spec in routes if routes is not None else _document_order(ROUTES):
        op: dict[str, Any] = {"operationId": spec.name, "summary": spec.summary, "tags": [spec.tag]}
        op["x-academy-auth"] = spec.auth  # who may call it: public, optional, user, admin or customer
        params: list[dict[str, Any]] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for n in _PATH_PARAM.findall(spec.path)
        ]
        if spec.query is not None:
            qschema = resolve(spec.query).model_json_schema()
            for name, prop in qschema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in qschema.get("required", []), "schema": prop})
        if params:
            op["parameters"] = params
        if spec.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(spec.body, components)}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if spec.response is not None:
            ok["content"] = {"application/json": {"schema": _schema_ref(spec.response, components)}}
        responses: dict[str, Any] = {str(spec.status): ok}
        for code, model in spec.also.items():  # other success statuses (e.g. 202 when work continues in a job)
            responses[str(code)] = {"description": HTTPStatus(code).phrase}
            if model is not None:
                responses[str(code)]["content"] = {"application/json": {"schema": _schema_ref(model, components)}}
        codes = set(spec.errors) | {500}
        if spec.body is not None or spec.query is not None:
            codes |= {400, 413}
        if spec.auth != "public":
            codes |= {401}
        if spec.auth in ("user", "admin", "customer"):
            codes |= {403}
        if _PATH_PARAM.search(spec.path):
            codes |= {404}
        for code in sorted(codes):
            responses[str(code)] = {"description": "Error", "content": {"application/json": {"schema": error_ref}}}
        for code, types in spec.media.items():
            responses[str(code)] = {"description": responses.get(str(code), {}).get("description", HTTPStatus(code).phrase)}
            if types:
                responses[str(code)]["content"] = {t: {"schema": {"type": "string"}} for t in types}
        op["responses"] = responses
        if spec.auth != "public":
            op["security"] = [{"bearer": []}] if spec.auth != "optional" else [{"bearer": []}, {}]
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
