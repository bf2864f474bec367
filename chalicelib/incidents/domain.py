"""Incident rules with no AWS or HTTP in them: scrubbing, truncation, normalisation and fingerprints.

Everything an incident carries passes through :func:`scrub` before it is stored or logged, and
through :func:`fit` so one report can never grow a DynamoDB item past its budget. Grouping is a
fingerprint of area + HTTP status + the normalised backend error (numbers, ids, uuids, ulids,
emails, timestamps replaced), so "schedule 01J… has 3 attendance records" and "schedule 01K… has
7 attendance records" land in one group.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
import traceback
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

REDACTED = "[REDACTED]"
SOURCES = ("frontend", "backend")
STATUSES = ("open", "resolved")


@dataclass(frozen=True)
class Limits:
    """The intake budgets (documented in README, section Incident Hub)."""

    max_body_bytes: int = 64 * 1024  # larger bodies: 413 + a stub incident
    hard_max_body_bytes: int = 1024 * 1024  # larger still: a plain 413, nothing stored
    message_chars: int = 2000
    location_chars: int = 2048
    user_agent_chars: int = 512
    title_chars: int = 200
    backend_error_bytes: int = 16 * 1024
    context_bytes: int = 8 * 1024
    latest_backend_error_bytes: int = 2 * 1024
    max_entities: int = 20
    leaf_chars: int = 4096  # any one string inside backend_error/context
    list_items: int = 100
    dict_keys: int = 200
    max_depth: int = 12
    # rate limits (fixed windows, DynamoDB counters)
    actor_per_window: int = 60  # a signed-in admin or customer
    anonymous_per_window: int = 20  # per source address
    rate_window_s: int = 60
    # flood control: beyond this many stored rows per group per window, count but do not store
    group_rows_per_window: int = 50
    group_window_s: int = 600
    # the spike signal: a group's Nth incident (stored or not) within one flood window emits incident.spike once
    spike_incidents: int = 10


LIMITS = Limits()

# --- scrubbing -----------------------------------------------------------------------------------


@functools.cache
def _rx() -> SimpleNamespace:
    """The scrub patterns, compiled on first use: most Lambdas never scrub an incident (cold start)."""
    return SimpleNamespace(
        secret_key=re.compile(
            r"passw(or)?d|passcode|pwd|secret|token|authori[sz]ation|cookie|api_?key|session|credential|private_?key",
            re.I,
        ),
        # short secret names that are also pieces of ordinary words ("shipping", "footprint"): whole words only
        secret_word=re.compile(r"pin|otp|totp|hotp|cvv|cvc", re.I),
        key_words=re.compile(r"[A-Z]?+[a-z]++|[A-Z]++(?![a-z])|\d++"),
        # Every pattern is linear in the input (possessive quantifiers, boundary look-behinds): the
        # text comes from anyone who can reach POST /incidents.
        bearer=re.compile(r"(?<![A-Za-z0-9])(bearer|basic)\s++([A-Za-z0-9\-._~+/]{8,}+=*+)", re.I),
        jwt=re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]*+"),
        # a key, then an optional (maybe JSON-escaped or URL-encoded) closing quote, then ':' / '=' or their
        # URL encodings; a key inside URL-encoded JSON is read with the quote's digits (``22token``)
        kv_key=re.compile(r"""(?<![A-Za-z0-9_-])(?P<name>[A-Za-z0-9_-]{1,64}+)(?:\\?+["']|%2[27])?+\s*+(?P<sep>[:=]|%3[AaDd])"""),
        kv_value=re.compile(r"""\s*+(?P<val>[^"'&?#\s,;}\]\\]++)"""),
        kv_encoded_value=re.compile(r"""(?P<val>(?:(?!%2[26Cc]|%3[Bb]|%7[Dd])[^"'&?#\s,;}\]\\])++)"""),
        quote=re.compile(r"""\s*+(?P<q>\\?+["']|%2[27])"""),
        card=re.compile(r"(?<![\d.])[2-6]\d(?:[ -]?\d){11,17}(?![\d.])"),
        # bounded repeats: backtracking over at most 8 labels (a sentence's final "." is not the domain's)
        email=re.compile(
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}+@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])"
        ),
        # phone numbers as people write them: +CC and groups, (area) groups, or three separated groups;
        # bare digit runs are not phones here (byte counts, ids), and 8-15 digits are required (E.164)
        phone=re.compile(
            r"(?<![\w+.\-/:])(?<!\d )(?:"
            r"\+\d{1,3}+(?:[ .\-]?+\(\d{1,4}+\))?+(?:[ .\-]?+\d{1,5}+){1,5}+"
            r"|\(\d{2,5}+\)[ .\-]?+\d{2,4}+(?:[ .\-]?+\d{2,4}+){1,2}+"
            r"|\d{2,5}+[ .\-]\d{3,4}+[ .\-]\d{3,4}+"
            r")(?![\w]|[ .\-/:]\d)"
        ),
    )


_SEPARATORS = str.maketrans("", "", " _-\t")


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """True for keys that name secrets (any case; ``-``, ``_`` and spaces ignored); ``pin``, ``otp``
    and the like count only as whole words of the key (``user_pin``, ``otpCode``, not ``shipping``)."""
    if _rx().secret_key.search(key.translate(_SEPARATORS)):
        return True
    return any(_rx().secret_word.fullmatch(word) for word in _rx().key_words.findall(key))


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[REDACTED_CARD]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else match.group(0)


def _credential(match: re.Match[str]) -> str:
    scheme, cred = match.group(1), match.group(2)
    if scheme.lower() == "basic" and cred.isalpha() and cred.islower():  # "basic information", not a credential
        return match.group(0)
    return f"{scheme} {REDACTED}"


def _secret_value_end(text: str, key: re.Match[str]) -> tuple[int, int] | None:
    """Where the value after a secret key starts and ends. A quoted value runs to its closing quote,
    spaces and all (``password="horse battery staple"``); an unclosed one to the end of the line."""
    if quoted := _rx().quote.match(text, key.end()):
        closing = quoted.group("q")
        start = quoted.end()
        end = text.find(closing, start)
        if end < 0:
            newline = text.find("\n", start)
            end = len(text) if newline < 0 else newline
        return start, end
    pattern = _rx().kv_encoded_value if key.group("sep").startswith("%") else _rx().kv_value
    value = pattern.match(text, key.end())
    return (value.start("val"), value.end("val")) if value else None


def _redact_values_of_secret_keys(text: str) -> str:
    """``password=x``, ``"api_key": "x y"``, ``session: x``, ``client_secret%3Dx`` → the value replaced
    (keys found without eating values)."""
    if ":" not in text and "=" not in text and "%3" not in text:
        return text  # no key/value separator (``:``, ``=``, ``%3A``, ``%3D``): nothing ``kv_key`` can match
    folded = text.translate(_SEPARATORS)
    if not (_rx().secret_key.search(folded) or _rx().secret_word.search(folded)):
        return text  # no secret-looking key anywhere: the common case, one linear pass
    out, pos = [], 0
    for key in _rx().kv_key.finditer(text):
        if key.start() < pos or not is_secret_key(key.group("name")):
            continue
        span = _secret_value_end(text, key)
        if span is None:
            continue
        out.append(text[pos : span[0]])
        out.append(REDACTED)
        pos = span[1]
    out.append(text[pos:])
    return "".join(out)


def _phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return "[REDACTED_PHONE]" if 8 <= digits <= 15 else match.group(0)


def _keep_contacts() -> bool:
    from chalicelib.core.settings import get_settings

    return get_settings().incidents_keep_contacts


_SHORT = 128  # texts up to this long are scrubbed once per container (keys, codes, ids repeat)


def scrub_text(text: str, keep_contacts: bool | None = None) -> str:
    """Secrets inside a free-text value: bearer/basic credentials, JWTs, ``key=value`` secrets, card
    numbers; and, unless ``ACADEMY_INCIDENTS_KEEP_CONTACTS`` allows them, emails and phone numbers
    (children's and parents' data)."""
    keep = _keep_contacts() if keep_contacts is None else keep_contacts
    if len(text) <= _SHORT:
        return _scrub_short(text, keep)
    return _scrub_text(text, keep)


@functools.lru_cache(maxsize=8192)
def _scrub_short(text: str, keep_contacts: bool) -> str:
    return _scrub_text(text, keep_contacts)


def _scrub_text(text: str, keep_contacts: bool) -> str:
    text = _rx().bearer.sub(_credential, text)
    text = _rx().jwt.sub("[REDACTED_JWT]", text)
    text = _redact_values_of_secret_keys(text)
    text = _rx().card.sub(_card, text)
    if not keep_contacts:
        if "@" in text:
            text = _rx().email.sub("[REDACTED_EMAIL]", text)
        text = _rx().phone.sub(_phone, text)
    return text


def scrub(value: Any, depth: int = 0, max_depth: int = LIMITS.max_depth) -> Any:
    """A copy of a JSON value with secrets removed at any depth (dicts, lists, strings, numbers)."""
    if depth > max_depth:
        return "[TRUNCATED: too deep]"
    if isinstance(value, dict):
        # {"name": "Set-Cookie", "value": "..."}: header lists (HAR, fetch) name the secret in a sibling
        label = next((value[k] for k in ("name", "key", "header") if isinstance(value.get(k), str)), None)
        secret_pair = label is not None and is_secret_key(label)
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = scrub_text(str(k))
            hide = is_secret_key(str(k)) or (secret_pair and k in ("value", "values"))
            out[key] = REDACTED if hide else scrub(v, depth + 1, max_depth)
        return out
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and isinstance(value[0], str) and is_secret_key(value[0]):  # [["Cookie", "sid=1"]]
            return [scrub_text(value[0]), REDACTED]
        return [scrub(v, depth + 1, max_depth) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and 13 <= len(str(abs(value))) <= 19:
        return "[REDACTED_CARD]" if _card_number(str(abs(value))) else value
    return value


def _card_number(digits: str) -> bool:
    return digits[0] in "23456" and luhn_ok(digits)


# --- truncation ----------------------------------------------------------------------------------


def json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def clip(text: str, max_chars: int) -> tuple[str, bool]:
    """``text`` cut to ``max_chars`` characters with a marker naming what was cut."""
    if len(text) <= max_chars:
        return text, False
    marker = f"…[truncated {len(text) - max_chars} chars]"
    return text[: max(0, max_chars - len(marker))] + marker, True


def _shrink(value: Any, limits: Limits, depth: int = 0) -> Any:
    if depth > limits.max_depth:
        return "[TRUNCATED: too deep]"
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k)[:200]: _shrink(v, limits, depth + 1) for k, v in items[: limits.dict_keys]}
        if len(items) > limits.dict_keys:
            out["_truncated_keys"] = len(items) - limits.dict_keys
        return out
    if isinstance(value, (list, tuple)):
        out_list = [_shrink(v, limits, depth + 1) for v in value[: limits.list_items]]
        if len(value) > limits.list_items:
            out_list.append(f"[truncated {len(value) - limits.list_items} items]")
        return out_list
    if isinstance(value, str):
        return clip(value, limits.leaf_chars)[0]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return clip(str(value), limits.leaf_chars)[0]


def fit(value: Any, budget: int, limits: Limits | None = None) -> tuple[Any, bool]:
    """``value`` within ``budget`` bytes of JSON, and whether anything was cut.

    Long strings, lists and dicts are trimmed first; if the result is still over budget it becomes
    ``{"_truncated": true, "original_bytes": N, "preview": "<the first bytes of its JSON>"}``.
    """
    if value is None:
        return None, False
    limits = limits or LIMITS
    original = json_size(value)
    if original <= budget:
        return value, False
    shrunk = _shrink(value, limits)
    if json_size(shrunk) <= budget:
        return shrunk, True
    raw = value if isinstance(value, str) else json.dumps(shrunk, ensure_ascii=False, separators=(",", ":"), default=str)
    room = max(0, budget - 120)
    preview = raw.encode()[:room].decode(errors="ignore")
    while json_size(preview) > room and preview:  # escapes can grow it; trim until it fits
        preview = preview[: int(len(preview) * 0.9)]
    return {"_truncated": True, "original_bytes": original, "preview": preview}, True


# --- normalisation and grouping ------------------------------------------------------------------


@functools.cache
def _normalisers() -> list[tuple[re.Pattern[str], str]]:
    """Volatile parts of an error text and their placeholders (compiled on first use)."""
    return [
        (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
        (re.compile(r"\b[0-7][0-9A-HJKMNP-TV-Z]{25}\b", re.I), "<ulid>"),
        (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "<email>"),
        (re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"), "<time>"),
        (re.compile(r"\b(?:0x)?[0-9a-f]{12,}\b", re.I), "<hex>"),
        (re.compile(r"\b(?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{16,}\b"), "<id>"),
        (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    ]


def error_text(backend_error: Any) -> str | None:
    """The human part of a backend error: our envelope's code+message, a ``message``, or the text itself."""
    if backend_error is None:
        return None
    if isinstance(backend_error, str):
        return backend_error
    if isinstance(backend_error, dict):
        err = backend_error.get("error")
        if isinstance(err, dict) and ("code" in err or "message" in err):
            return " ".join(str(err.get(k)) for k in ("code", "message") if err.get(k) is not None)
        if isinstance(err, str):
            return err
        parts = [str(backend_error[k]) for k in ("type", "code", "message", "detail", "title") if backend_error.get(k)]
        if parts:
            return " ".join(parts)
    return json.dumps(backend_error, sort_keys=True, separators=(",", ":"), default=str)


def normalise(text: str, max_chars: int = 500) -> str:
    """Replace the parts that vary between occurrences of one error (ids, numbers, emails, times)."""
    out = text[: max_chars * 2]  # bounded work whatever the input
    for pattern, token in _normalisers():
        out = pattern.sub(token, out)
    return re.sub(r"\s+", " ", out).strip()[:max_chars]


def fingerprint(area: str, http_status: int | None, normalised_error: str) -> str:
    """The group id: 32 hex characters of SHA-256 over area, status and normalised error."""
    raw = f"{area}\n{http_status if http_status is not None else '-'}\n{normalised_error}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def group_key(area: str, http_status: int | None, backend_error: Any, message: str) -> tuple[str, str]:
    """(group_id, title) for an incident. Without a backend error, the message stands in for it.

    Only the first 4,000 characters of the error text count (scrubbed here, so the title is safe).
    """
    text = error_text(backend_error)
    return _group_key(area, http_status, text[:4000] if text else message[:4000], message[:4000], _keep_contacts())


@functools.lru_cache(maxsize=1024)
def _group_key(area: str, http_status: int | None, text: str, message: str, keep_contacts: bool) -> tuple[str, str]:
    """group_key's work, once per distinct error in a container (one group's incidents repeat it)."""
    basis = scrub_text(text, keep_contacts)
    title = clip(re.sub(r"\s+", " ", basis or message).strip() or area, LIMITS.title_chars)[0]
    return fingerprint(area, http_status, normalise(basis or "")), title


# --- incident drafts -----------------------------------------------------------------------------


def _clean(text: str, max_chars: int) -> tuple[str, bool]:
    """Scrubbed and clipped; the scrubber only ever sees twice the budget (bounded work)."""
    cleaned, cut = clip(scrub_text(text[: max_chars * 2]), max_chars)
    return cleaned, cut or len(text) > max_chars * 2


@dataclass
class Draft:
    """A scrubbed, size-bounded incident ready to be stored (the store adds ids and times)."""

    source: str
    area: str
    message: str
    http_status: int | None
    backend_error: Any
    entities: list[dict[str, str]]
    location: str | None
    occurred_at: str | None
    request_id: str | None
    context: Any
    actor: dict[str, Any]
    group_id: str
    title: str
    truncated: list[str]
    claimed_actor: Any = None
    user_agent: str | None = None
    source_ip: str | None = None
    origin: dict[str, Any] | None = None
    dropped: dict[str, Any] | None = None


def build_draft(
    *,
    source: str,
    area: str,
    message: str,
    actor: dict[str, Any],
    http_status: int | None = None,
    backend_error: Any = None,
    entities: list[dict[str, str]] | None = None,
    location: str | None = None,
    occurred_at: str | None = None,
    request_id: str | None = None,
    context: Any = None,
    claimed_actor: Any = None,
    user_agent: str | None = None,
    source_ip: str | None = None,
    origin: dict[str, Any] | None = None,
    dropped: dict[str, Any] | None = None,
    limits: Limits | None = None,
) -> Draft:
    """Scrub, truncate and fingerprint one incident (grouping looks at the error before truncation)."""
    limits = limits or LIMITS
    truncated: list[str] = []
    group_id, title = group_key(area, http_status, backend_error, message)
    if dropped is not None:  # an oversize report: its group is known, its payload is not kept
        backend_error, context = None, None
    backend_error = scrub(backend_error)
    msg, cut = _clean(message, limits.message_chars)
    if cut:
        truncated.append("message")
    loc = None
    if location is not None:
        loc, cut = _clean(location, limits.location_chars)
        if cut:
            truncated.append("location")
    be, cut = fit(backend_error, limits.backend_error_bytes, limits)
    if cut:
        truncated.append("backend_error")
    ctx, cut = fit(scrub(context), limits.context_bytes, limits)
    if cut:
        truncated.append("context")
    ents = [{"type": str(e["type"]), "id": scrub_text(str(e["id"]))} for e in (entities or [])]
    if len(ents) > limits.max_entities:
        truncated.append(f"entities ({len(ents) - limits.max_entities} dropped)")
        ents = ents[: limits.max_entities]
    return Draft(
        source=source,
        area=area,
        message=msg,
        http_status=http_status,
        backend_error=be,
        entities=ents,
        location=loc,
        occurred_at=occurred_at,
        request_id=request_id,
        context=ctx,
        actor=actor,
        group_id=group_id,
        title=title,
        truncated=truncated,
        claimed_actor=fit(scrub(claimed_actor), 1024, limits)[0] if claimed_actor is not None else None,
        user_agent=_clean(user_agent, limits.user_agent_chars)[0] if user_agent else None,
        source_ip=source_ip,
        origin=origin,
        dropped=dropped,
    )


# --- rate scopes, flood windows, the intake's first guess -----------------------------------------


def window_start(now: float, window_s: int) -> int:
    """The start (epoch seconds) of the fixed window of ``window_s`` seconds that holds ``now``."""
    return int(now // window_s) * window_s


def rate_scope(actor: dict[str, Any], source_ip: str, limits: Limits) -> tuple[str, int]:
    """(counter scope, hits allowed per window): per signed-in actor, else per source address."""
    if actor.get("role") in (None, "anonymous") or not actor.get("id"):
        return f"ip:{source_ip}", limits.anonymous_per_window
    return f"actor:{actor['role']}:{actor['id']}", limits.actor_per_window


def oversize(size: int, limits: Limits) -> dict[str, Any] | None:
    """What a report over ``max_body_bytes`` records about its drop (None: it fits)."""
    if size <= limits.max_body_bytes:
        return None
    return {"reason": "payload_too_large", "size_bytes": size, "max_bytes": limits.max_body_bytes}


def list_area(area: str | None) -> str | None:
    """An area filter as areas are stored: frontend areas lower-cased and trimmed, backend ones as given."""
    return area.strip().lower() if area and not area.startswith("backend.") else area


def claim_size(allowed: int, seen: int) -> int:
    """How many hits a container claims from a window's store counter at once: half of what is left
    of the budget as it last saw it (at least one), so a window costs a few store writes per container
    and a container never holds more than half of what others could still use."""
    return max(1, math.ceil((allowed - seen) / 2))


class RateLeases:
    """scope -> this container's share of the rate budget of one fixed window (hits it claimed from the
    store's counter and has not used yet), and the store's count as it last saw it.

    The store's counter counts claimed hits and never passes the budget (a claim is a conditional
    ``ADD``), so every container together admits at most the budget; a hit inside a claimed share costs
    no store write. A container that saw the counter full refuses without asking again until the
    window ends (a window's count never goes down). Thread-safe; bounded: when full it starts over
    (dropping unused shares: fewer admitted, never more).
    """

    def __init__(self, max_size: int = 4096) -> None:
        self.max_size = max_size
        self._lock = threading.Lock()
        self._held: dict[str, tuple[int, int, int]] = {}  # scope -> (window start, hits left, store count seen)

    def take(self, scope: str, window: int, allowed: int) -> bool | None:
        """True: admitted from this container's share; False: the window is known to be full; None: ask the store."""
        with self._lock:
            held = self._held.get(scope)
            if held is None or held[0] != window:
                return None
            _, left, seen = held
            if left > 0:
                self._held[scope] = (window, left - 1, seen)
                return True
            return False if seen >= allowed else None

    def seen(self, scope: str, window: int) -> int:
        """The store's count for ``scope`` in ``window`` as this container last saw it (0: not yet)."""
        with self._lock:
            held = self._held.get(scope)
            return held[2] if held is not None and held[0] == window else 0

    def granted(self, scope: str, window: int, hits: int, count: int) -> None:
        """Record a claim of ``hits`` (0: refused; else one is used by the caller now); ``count``: the store's count after it."""
        with self._lock:
            held = self._held.get(scope)
            left = held[1] if held is not None and held[0] == window else 0
            if held is None and len(self._held) >= self.max_size:
                self._held.clear()
            self._held[scope] = (window, left + max(0, hits - 1), max(count, held[2] if held and held[0] == window else 0))


class FloodGuesses:
    """group_id -> the flood window this container last saw it flooding in.

    Only a first guess (so a flood costs one group write per intake, not a failed one and another);
    the store's conditions decide. Bounded: when full it starts over.
    """

    def __init__(self, max_size: int = 1024) -> None:
        self.max_size = max_size
        self._windows: dict[str, int] = {}

    def flooding(self, group_id: str, window: int) -> bool:
        """Whether ``group_id`` was last seen flooding in ``window``."""
        return self._windows.get(group_id) == window

    def saw(self, group_id: str, window: int, stored: bool) -> None:
        """Remember what an intake found: flooding in ``window`` (not stored) or not flooding."""
        if stored:
            self._windows.pop(group_id, None)
            return
        if len(self._windows) >= self.max_size:
            self._windows.clear()
        self._windows[group_id] = window

    def __contains__(self, group_id: object) -> bool:
        return group_id in self._windows


# --- backend failures ----------------------------------------------------------------------------


def _entities_from_path(path_params: dict[str, Any] | None) -> list[dict[str, str]]:
    out = []
    for name, value in (path_params or {}).items():
        kind = name[:-3] if name.endswith("_id") else name
        out.append({"type": kind, "id": str(value)[:128]})
    return out


def backend_draft(exc: BaseException, context: dict[str, Any], limits: Limits | None = None) -> Draft:
    """An incident for an unhandled error in a route or a job (the observability seam's context dict)."""
    kind = str(context.get("kind") or "unknown")
    error_type = type(exc).__name__
    error_message = str(exc)
    frames = [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__)][-10:]
    origin: dict[str, Any] = {"kind": kind}
    entities: list[dict[str, str]] = []
    if kind == "route":
        route = str(context.get("route") or "unknown")
        area = f"backend.route.{route}"
        origin["route"] = route
        entities = _entities_from_path(context.get("path_params"))
        location = route
    elif kind == "job":
        job_type = str(context.get("job_type") or "unknown")
        area = f"backend.job.{job_type}"
        origin.update(job_id=context.get("job_id"), job_type=job_type, permanent=bool(context.get("permanent")))
        entity = context.get("entity")
        if isinstance(entity, dict) and entity.get("id"):
            entities = [{"type": str(entity.get("type") or "entity"), "id": str(entity["id"])[:128]}]
        location = f"job:{job_type}:{context.get('job_id')}"
    else:
        area = f"backend.{kind}"
        location = kind
    http_status = context.get("http_status")
    claimed = context.get("actor")
    actor: dict[str, Any] = claimed if isinstance(claimed, dict) else {"role": "system", "id": None}
    return build_draft(
        source="backend",
        area=area[:200],
        message=f"{error_type}: {error_message}" if error_message else error_type,
        actor=actor,
        http_status=int(http_status) if isinstance(http_status, int) else None,
        backend_error={"type": error_type, "message": error_message},
        entities=entities,
        location=location,
        request_id=str(context.get("request_id") or "")[:128] or None,
        context={"traceback": frames, **{k: v for k, v in context.items() if k not in ("path_params", "entity", "actor")}},
        origin=origin,
        limits=limits,
    )


# --- links: the jobs and entities a group's incidents name ----------------------------------------

JOB_LINK = "job"
ENTITY_LINK = "entity"
LINK_KINDS = (JOB_LINK, ENTITY_LINK)
MAX_LINKS_PER_INCIDENT = 21  # its job + at most max_entities entities
VERIFY_MAX_JOBS = 100  # a group naming more jobs is not verified on read (one BatchGetItem holds 100 keys)


@dataclass(frozen=True)
class LinkRef:
    """One thing an incident names: a job (``job#<id>``) or an entity (``entity#<type>#<id>``)."""

    kind: str
    ref_type: str  # the job's type, or the entity's
    ref_id: str

    @property
    def key(self) -> str:
        return f"job#{self.ref_id}" if self.kind == JOB_LINK else f"entity#{self.ref_type}#{self.ref_id}"


def entity_key(entity_type: str, entity_id: str) -> str:
    """The link key of an entity (what search by entity looks up)."""
    return LinkRef(ENTITY_LINK, entity_type, entity_id).key


def job_key(job_id: str) -> str:
    return LinkRef(JOB_LINK, "", job_id).key


def links_of(draft: Draft) -> list[LinkRef]:
    """What ``draft`` names: the job of a ``backend.job.<type>`` incident (from its origin), then its entities (deduplicated)."""
    out: list[LinkRef] = []
    origin = draft.origin or {}
    job_id = origin.get("job_id")
    if origin.get("kind") == "job" and isinstance(job_id, str) and job_id:
        out.append(LinkRef(JOB_LINK, str(origin.get("job_type") or ""), job_id[:128]))
    seen: set[tuple[str, str]] = set()
    for e in draft.entities:
        pair = (str(e.get("type") or ""), str(e.get("id") or ""))
        if pair[0] and pair[1] and pair not in seen:
            seen.add(pair)
            out.append(LinkRef(ENTITY_LINK, pair[0][:40], pair[1][:128]))
    return out[:MAX_LINKS_PER_INCIDENT]


class SeenLinks:
    """(group_id, link key) pairs this container knows are stored: the intake writes a link only the first
    time (a conditional put that a second writer loses harmlessly). Bounded: when full it starts over."""

    def __init__(self, max_size: int = 4096) -> None:
        self.max_size = max_size
        self._seen: set[tuple[str, str]] = set()

    def unseen(self, group_id: str, refs: list[LinkRef]) -> list[LinkRef]:
        return [r for r in refs if (group_id, r.key) not in self._seen]

    def saw(self, group_id: str, key: str) -> None:
        if len(self._seen) >= self.max_size:
            self._seen.clear()
        self._seen.add((group_id, key))


_CONSOLE_PAGES = {"student": "students", "schedule": "schedules", "task": "tasks", "homework": "homework", "video": "media"}
_CONSOLE_PAGES["monitor"] = "monitors"


def console_path(kind: str, ref_type: str, ref_id: str, facts: dict[str, Any] | None = None) -> str | None:
    """Where the console shows a linked job or entity (a path under the console's mount root), if anywhere."""
    from urllib.parse import quote

    facts = facts or {}
    if kind == JOB_LINK or ref_type == "job":
        return f"/console/admin/jobs?job={quote(ref_id)}"
    if ref_type == "customer":
        return f"/console/admin/family?customer={quote(ref_id)}"
    if ref_type == "student" and facts.get("customer_id"):
        return f"/console/admin/family?customer={quote(str(facts['customer_id']))}"
    if ref_type == "incident_group":
        return f"/console/admin/incidents?status=all&group={quote(ref_id)}"
    page = _CONSOLE_PAGES.get(ref_type)
    return f"/console/admin/{page}" if page else None


def verification(jobs: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    """Whether a group is *verified fixed*: it names at least one job, and every job it names has since
    succeeded (the ledger's state, finished after the group first saw the job). ``jobs``: each job link
    with its ledger facts (``state``, ``finished_at``, ``first_seen``); ``more``: there were more than
    could be checked (then it is not verified)."""
    proven = [j for j in jobs if j.get("state") == "succeeded" and (j.get("finished_at") or "") >= (j.get("first_seen") or "")]
    pending = [j["job_id"] for j in jobs if j not in proven]
    ok = bool(jobs) and not pending and not more
    return {
        "verified_fixed": ok,
        "verified_fixed_at": max(str(j.get("finished_at")) for j in proven) if ok else None,
        "verified_jobs": [j["job_id"] for j in proven] if ok else [],
        "unfixed_jobs": pending[:20],
        "jobs_checked": len(jobs),
        "jobs_capped": more,
    }
