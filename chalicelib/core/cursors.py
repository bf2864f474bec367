"""Tamper-proof cursors, bound to the list that issued them.

A store hands the route layer a raw cursor (a DynamoDB ``LastEvaluatedKey`` in base64, or a
store's own position format). Before it leaves the API it is *sealed*: ``<payload>.<mac>``, where
the MAC is an HMAC-SHA256 over the payload and the list's identity — the route (method and path),
its path parameters, its filters (every query or body field except the cursor and ``limit``) and,
on customer routes, the caller. A cursor sent back is checked against the identity of the list it
is sent to before anything reads it: another list's cursor, a forged or a truncated one is a 400
``invalid_next_token``, and never reaches DynamoDB.

The key: ``ACADEMY_CURSOR_KEY`` (every function of a deployed stack gets the stack's ``CursorKey``
parameter, so all functions and every cold start agree); on the local ``dev`` stage, without one, a
key generated once into an ignored file (``ACADEMY_CURSOR_KEY_FILE``, default
``.academy/cursor-key``) like the dev signing key. A deployed stage without a key fails closed.
Changing the key only invalidates cursors in flight (clients start the list again).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import threading
from pathlib import Path
from typing import Any

from chalicelib.core.errors import BadRequest
from chalicelib.core.settings import PROJECT_ROOT, get_settings, local_secret

MIN_KEY_CHARS = 32
MAC_BYTES = 16  # 128-bit tag: forging one is out of reach, and the cursor stays short
_DOMAIN = b"academy-cursor-v1\x00"
_lock = threading.Lock()


class CursorKeyMissing(RuntimeError):
    """A deployed stage without ``ACADEMY_CURSOR_KEY``: lists refuse to issue unauthenticated cursors."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.cache
def cursor_key() -> bytes:
    """The HMAC key (see the module docstring). Cached per process: read once per cold start."""
    configured = os.environ.get("ACADEMY_CURSOR_KEY", "")
    if configured:
        if len(configured) < MIN_KEY_CHARS:
            raise CursorKeyMissing(f"ACADEMY_CURSOR_KEY must be at least {MIN_KEY_CHARS} characters")
        return configured.encode()
    if not get_settings().dev_auth:  # only the local stack and tests (dev auth, never on Lambda)
        raise CursorKeyMissing("ACADEMY_CURSOR_KEY is not set: a deployed stage needs its CursorKey parameter")
    path = Path(os.environ.get("ACADEMY_CURSOR_KEY_FILE", str(PROJECT_ROOT / ".academy" / "cursor-key")))
    with _lock:
        return local_secret(path).encode()


def identity(route: str, path_params: dict[str, str], filters: dict[str, Any], caller: str | None) -> bytes:
    """The canonical bytes naming one list: what a cursor is bound to."""
    doc = {"route": route, "path": path_params, "filters": filters, "caller": caller}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str).encode()


def _mac(payload: bytes, list_identity: bytes) -> bytes:
    msg = _DOMAIN + list_identity + b"\x00" + payload
    return hmac.new(cursor_key(), msg, hashlib.sha256).digest()[:MAC_BYTES]


def seal(raw: str, list_identity: bytes) -> str:
    """The cursor a client sees for the store's ``raw`` position in the list named by ``list_identity``."""
    payload = raw.encode()
    return f"{_b64(payload)}.{_b64(_mac(payload, list_identity))}"


def invalid(field: str = "next_token", why: str = "not a cursor issued by this list") -> BadRequest:
    return BadRequest(f"{field} is not valid: {why}.", code="invalid_next_token", details={"fields": {field: why}})


def unseal(token: str, list_identity: bytes, field: str = "next_token") -> str:
    """The store's position inside a cursor this list issued; 400 ``invalid_next_token`` otherwise."""
    body, dot, tag = token.partition(".")
    if not dot or not body or not tag:
        raise invalid(field, "malformed")
    try:
        payload, mac = _unb64(body), _unb64(tag)
    except (binascii.Error, ValueError) as exc:
        raise invalid(field, "malformed") from exc
    if len(mac) != MAC_BYTES or not hmac.compare_digest(mac, _mac(payload, list_identity)):
        raise invalid(field)
    try:
        return payload.decode()
    except UnicodeDecodeError as exc:  # unreachable with a valid MAC; kept as a guard
        raise invalid(field, "malformed") from exc
