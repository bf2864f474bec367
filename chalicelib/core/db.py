"""pynamodb plumbing shared by every capability: table naming, time and id helpers, pagination.

Table names come from :mod:`chalicelib.core.settings`; the endpoint comes from ``AWS_ENDPOINT_URL``
(botocore honours it), so the same models talk to AWS, to moto's server or to ``mock_aws``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from pynamodb.attributes import Attribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import QueryError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import MetaProtocol
from pynamodb.transactions import TransactWrite

from chalicelib.core.errors import BadRequest
from chalicelib.core.settings import get_settings


def _one_botocore_session_per_thread() -> None:
    """pynamodb gives every model's connection its own botocore session, so the first call on each
    table loads and parses DynamoDB's service model again: ~0.1 s per table, paid by the first request
    of a cold Lambda for every table it touches (measured: 1.5 s for the first call on each of our 14
    tables, 0.02 s after). One session per thread (pynamodb keeps sessions per thread, since client
    creation is not thread-safe) makes every later table's first call a cheap client creation."""
    from pynamodb.connection import base

    # pynamodb imports get_session from botocore without re-exporting it: reach it as the module's attribute.
    create: Callable[[], Any] = vars(base)["get_session"]
    if getattr(create, "academy_shared", False):
        return
    local = threading.local()

    def per_thread_session() -> Any:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = create()
            from chalicelib.core import capacity

            capacity.install(session)  # read and write units per route (chalicelib/core/capacity.py)
        return session

    per_thread_session.academy_shared = True  # type: ignore[attr-defined]  # a marker on the function
    setattr(base, "get_session", per_thread_session)  # noqa: B010 - the name is not re-exported (see above)


_one_botocore_session_per_thread()

ENTITY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what a client may send as an id (ours are ULIDs)


class _TableMeta(type):
    """A model's ``Meta`` whose table name and region are read from the settings at each use, not at
    import: the stage can be chosen after the models are imported (pynamodb re-binds its connection
    when the name changes)."""

    short_name: str

    @property
    def table_name(cls) -> str:
        return get_settings().table_name(cls.short_name)

    @property
    def region(cls) -> str:
        return get_settings().region


def meta(short_name: str) -> MetaProtocol:
    """A pynamodb ``Meta`` for the table ``academy-<stage>-<short_name>`` (on-demand billing)."""
    made = _TableMeta("Meta", (), {"short_name": short_name, "billing_mode": "PAY_PER_REQUEST"})
    return cast(MetaProtocol, made)  # the class itself is the Meta: its metaclass serves table_name and region


def index_meta(index_name: str, projection: Any) -> type:
    return type("Meta", (), {"index_name": index_name, "projection": projection})


def gsi(
    index_name: str,
    hash_key: str,
    range_key: str | None = None,
    *,
    range_attr: type[Attribute[Any]] = UnicodeAttribute,
    projection: Any = None,
) -> GlobalSecondaryIndex[Any]:
    """A global secondary index on ``hash_key`` (string) [+ ``range_key``], all attributes projected
    unless ``projection`` says otherwise. Use as a model attribute: ``by_kind = gsi("by_kind", "kind", "id")``."""
    attrs: dict[str, Any] = {
        "Meta": index_meta(index_name, projection or AllProjection()),
        hash_key: UnicodeAttribute(hash_key=True),
    }
    if range_key:
        attrs[range_key] = range_attr(range_key=True)
    index: GlobalSecondaryIndex[Any] = type(f"Index_{index_name}", (GlobalSecondaryIndex,), attrs)()
    return index


@functools.cache
def _connection() -> Connection:
    return Connection(region=get_settings().region)


def condition_failed(exc: BaseException) -> bool:
    """A write refused by its condition: a pynamodb error (``cause_response_code``) or a botocore ClientError."""
    code = getattr(exc, "cause_response_code", None)
    if code is None:
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
    return bool(code == "ConditionalCheckFailedException")


def transaction() -> TransactWrite:
    """A DynamoDB transaction (≤ 100 actions, all-or-nothing, conditions checked like AWS)."""
    return TransactWrite(connection=_connection())


def new_id() -> str:
    """Server-generated, time-sortable id (ULID, 26 chars, lexicographic = creation order)."""
    from ulid import ULID  # on first use: the event Lambdas (workers, dead letters) rarely need one

    return str(ULID())


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC with ``Z`` (the contract's timestamp format)."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UTCDateTime(UTCDateTimeAttribute):
    """pynamodb's UTC datetime attribute (kept as one name so models read alike)."""


# --- cursor pagination -------------------------------------------------------------------------


def encode_token(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(
            "next_token is not valid.", code="invalid_next_token", details={"fields": {"next_token": "malformed"}}
        ) from exc
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise BadRequest("next_token is not valid.", code="invalid_next_token", details={"fields": {"next_token": "malformed"}})
    return value


MAX_PAGES_PER_LIST = 5


def page(result_iterator: Any, limit: int, max_pages: int = MAX_PAGES_PER_LIST) -> tuple[list[Any], str | None]:
    """One page of a list from a pynamodb query built with ``page_size=limit``: items and a cursor.

    DynamoDB applies a query's filter after reading, and pynamodb would keep reading until ``limit``
    items match, so a rare match could read a whole partition for one page. Here a list reads at
    most ``max_pages`` DynamoDB pages: a filtered page may come back short (even empty) with a
    ``next_token`` to continue; an unfiltered one is always full.
    """
    pages = result_iterator.page_iter
    to_model = getattr(result_iterator, "_map_fn", None) or (lambda raw: raw)
    raw_items: list[dict[str, Any]] = []
    lek: dict[str, Any] | None = None
    try:
        for n, response in enumerate(pages, start=1):
            got = response.get("Items", [])
            room = limit - len(raw_items)
            if len(got) > room:  # cut mid-page: resume after the last item returned
                raw_items += got[:room]
                lek = {key: raw_items[-1][key] for key in pages.key_names}
                break
            raw_items += got
            lek = response.get("LastEvaluatedKey")
            if not lek or len(raw_items) >= limit or n >= max_pages:
                break
    except QueryError as exc:  # a forged token naming keys outside the queried partition
        if exc.cause_response_code == "ValidationException":
            raise BadRequest("next_token is not valid.", code="invalid_next_token") from exc
        raise
    return [to_model(item) for item in raw_items], encode_token(lek)


# --- the repeated shapes: a list served by one key or index query, a conditional transition ------


def query_page(
    query: Callable[..., Any],
    hash_key: Any,
    *,
    limit: int,
    next_token: str | None,
    range_key_condition: Any = None,
    filter_condition: Any = None,
    newest_first: bool = False,
    consistent_read: bool = False,
) -> tuple[list[Any], str | None]:
    """One page of a list served by a key or index query (``Model.query`` or ``Model.index.query``):
    ``limit`` items at most, in key order (or newest first), with a cursor to continue (see :func:`page`)."""
    kw: dict[str, Any] = {}
    if consistent_read:
        kw["consistent_read"] = True
    it = query(
        hash_key,
        range_key_condition=range_key_condition,
        filter_condition=filter_condition,
        scan_index_forward=not newest_first,
        limit=limit,
        page_size=limit,
        last_evaluated_key=decode_token(next_token),
        **kw,
    )
    return page(it, limit)


def transition(item: Any, actions: list[Any], condition: Any = None) -> bool:
    """Apply ``actions`` to ``item`` only while ``condition`` holds (one conditional UpdateItem; the
    item is refreshed with the new values). False when the condition refused it: the caller decides
    what a lost race means (a 409, a no-op, a re-read)."""
    from pynamodb.exceptions import UpdateError

    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True
