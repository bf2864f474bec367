"""Alerts: the rules of the engine (pure: no AWS, no pynamodb, no Chalice).

- a rule matches a signal by kind and scope (an empty scope field matches anything; ``area`` is a prefix);
- throttling per (rule, subject): the 1st, 10th, 100th, 1000th … occurrence is sent, the others are
  suppressed and counted into a digest sent at most every ``digest_minutes``;
- webhook URLs: what a stage accepts (https to public hosts; loopback only on the local stack), and the
  masked hint shown instead of the URL;
- the Slack-compatible body of a notification.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from chalicelib.alerts.signals import KINDS

EMAIL = "email"  # the built-in channel: the stack's alerts SNS topic
CHANNEL_KINDS = ("email", "webhook")
DEFAULT_DIGEST_MINUTES = 60

# Per-kind parameters: name → (default, minimum, maximum). A rule may set only its kind's.
PARAMS: dict[str, dict[str, tuple[float, float, float]]] = {
    "incident.new": {},
    "incident.regression": {},
    "incident.spike": {"count": (10, 2, 100_000), "minutes": (10, 1, 24 * 60)},
    "job.first_failure": {},
    "job.failure_rate": {"rate": (0.2, 0.01, 1.0), "window_minutes": (15, 1, 7 * 24 * 60), "min_jobs": (3, 1, 100_000)},
    "job.stuck": {"minutes": (1, 1, 7 * 24 * 60)},
    "job.waiting": {"minutes": (30, 1, 7 * 24 * 60)},
    "dlq.not_empty": {},
    "monitor.missed_run": {},
    "monitor.failed_run": {},
}
assert set(PARAMS) == set(KINDS), "every signal kind has its parameters"

DEFAULT_NAMES = {
    "incident.new": "New incident group",
    "incident.regression": "Regression: a resolved group reopened",
    "incident.spike": "Spike: many incidents in a group",
    "job.first_failure": "A job type's first failure after a success",
    "job.failure_rate": "A job type's failure rate is high",
    "job.stuck": "A job is stuck",
    "job.waiting": "A job waits too long in its queue",
    "dlq.not_empty": "A dead-letter queue holds messages",
    "monitor.missed_run": "A scheduled function missed its run",
    "monitor.failed_run": "A scheduled function's run failed",
}


@dataclass(frozen=True)
class RuleScope:
    area: str = ""  # a prefix of the incident area
    job_type: str = ""
    source: str = ""


@dataclass(frozen=True)
class Rule:
    rule_id: str
    name: str
    kind: str
    scope: RuleScope = field(default_factory=RuleScope)
    params: Mapping[str, float] = field(default_factory=dict)
    channels: tuple[str, ...] = (EMAIL,)
    digest_minutes: int = DEFAULT_DIGEST_MINUTES
    enabled: bool = True


def param_errors(kind: str, params: Mapping[str, Any]) -> dict[str, str]:
    """Field → message for every parameter the kind does not take or whose value is out of range."""
    allowed = PARAMS.get(kind, {})
    errors: dict[str, str] = {}
    for name, value in params.items():
        if name not in allowed:
            errors[f"params.{name}"] = f"not a parameter of {kind} (takes: {', '.join(allowed) or 'none'})"
            continue
        _, low, high = allowed[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            errors[f"params.{name}"] = f"must be a number from {low:g} to {high:g}"
    return errors


def with_defaults(kind: str, params: Mapping[str, float]) -> dict[str, float]:
    """The kind's parameters: the given ones over the defaults."""
    return {name: params.get(name, default) for name, (default, _, _) in PARAMS[kind].items()}


def matches(rule: Rule, kind: str, area: str | None, job_type: str | None, source: str | None) -> bool:
    """The rule applies to a signal of ``kind`` with this scope (empty rule fields match anything)."""
    if not rule.enabled or rule.kind != kind:
        return False
    if rule.scope.area and not (area or "").startswith(rule.scope.area):
        return False
    if rule.scope.job_type and rule.scope.job_type != (job_type or ""):
        return False
    return not (rule.scope.source and rule.scope.source != (source or ""))


# How a rule's parameters judge a signal's ``detail`` (the producers emit at their own floor, which the defaults
# equal; a rule can only be stricter): parameter → (detail key, the comparison that must hold).
_CHECKS: dict[str, dict[str, tuple[str, str]]] = {
    "incident.spike": {"count": ("count", ">="), "minutes": ("window_minutes", "<=")},
    "job.failure_rate": {"rate": ("rate", ">="), "window_minutes": ("window_minutes", "<="), "min_jobs": ("jobs", ">=")},
    "job.stuck": {"minutes": ("minutes", ">=")},
    "job.waiting": {"minutes": ("minutes", ">=")},
}


def passes(rule: Rule, detail: Mapping[str, Any]) -> bool:
    """The signal's measured values meet the rule's parameters (a value the signal does not carry passes)."""
    for name, (key, op) in _CHECKS.get(rule.kind, {}).items():
        want, got = rule.params.get(name), detail.get(key)
        if want is None or isinstance(got, bool) or not isinstance(got, int | float):
            continue
        if (op == ">=" and got < want) or (op == "<=" and got > want):
            return False
    return True


def notify_at(n: int) -> bool:
    """Throttling: the 1st, 10th, 100th, 1000th … occurrence is sent (a power of ten)."""
    if n < 1:
        return False
    while n % 10 == 0:
        n //= 10
    return n == 1


@dataclass(frozen=True)
class Throttle:
    """The per-(rule, subject) state read before an occurrence is claimed."""

    n: int = 0  # occurrences counted so far
    pending: int = 0  # suppressed since the last digest
    window_start: datetime | None = None  # the last digest (or the first notification)
    digest_seq: int = 0


@dataclass(frozen=True)
class Decision:
    n: int  # this occurrence's number
    notify: bool  # sent now (1st, 10th, 100th …)
    digest: int  # > 0: a digest of this many suppressed occurrences goes out now
    after: Throttle  # the state to write


def decide(state: Throttle, now: datetime, digest_minutes: int) -> Decision:
    """What one new occurrence does: sent or suppressed, and whether the digest period has passed."""
    n = state.n + 1
    notify = notify_at(n)
    pending = state.pending + (0 if notify else 1)
    start = state.window_start or now
    due = pending > 0 and now - start >= timedelta(minutes=digest_minutes)
    if due:
        after = Throttle(n, 0, now, state.digest_seq + 1)
        return Decision(n, notify, pending, after)
    return Decision(n, notify, 0, Throttle(n, pending, start, state.digest_seq))


def digest_due(state: Throttle, now: datetime, digest_minutes: int) -> bool:
    """A sweep's question: suppressed occurrences wait and the period has passed."""
    return state.pending > 0 and state.window_start is not None and now - state.window_start >= timedelta(minutes=digest_minutes)


# --- webhook URLs -------------------------------------------------------------------------------

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MAX_URL = 2048


def _host_is_public(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        lowered = host.lower().rstrip(".")
        return "." in lowered and not (lowered == "localhost" or lowered.endswith((".localhost", ".local", ".internal")))
    return ip.is_global


def url_error(url: str, *, local: bool) -> str | None:
    """Why ``url`` is refused as a webhook on this stage (None: accepted).

    Deployed (``local`` False): ``https://`` to a public host only. The local stack also accepts
    ``http(s)://`` to loopback (127.0.0.1, localhost, ::1), for the local receiver."""
    if len(url) > MAX_URL:
        return f"at most {MAX_URL} characters"
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in url):
        return "no spaces, control or non-ASCII characters (percent-encode them)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    host = parts.hostname or ""
    if not host or parts.username or parts.password:
        return "must be scheme://host/path with no credentials in it"
    if port is not None and not 0 < port < 65536:
        return "bad port"
    if local and host in LOOPBACK_NAMES and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https":
        return "must be https://" + (" (or http://127.0.0.1 on the local stack)" if local else "")
    if not _host_is_public(host):
        return "must name a public host" + (" (loopback is accepted on the local stack only)" if not local else "")
    return None


def address_allowed(ip: str, *, local: bool) -> bool:
    """At delivery: the address the host resolved to (a name can point anywhere after it was accepted)."""
    addr = ipaddress.ip_address(ip)
    return addr.is_global or (local and addr.is_loopback)


def mask(url: str) -> str:
    """What is shown instead of a webhook URL: its scheme and host, never the path (the secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…"


# --- the notification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    title: str
    lines: tuple[str, ...]
    link: str | None = None

    def text(self) -> str:
        return "\n".join([self.title, *self.lines, *([self.link] if self.link else [])])

    def slack(self) -> dict[str, Any]:
        """A Slack-compatible body (``text`` for any receiver, ``blocks`` for Slack)."""
        body = "\n".join(self.lines + ((f"<{self.link}|Open in the console>",) if self.link else ()))
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": self.title[:150]}}]
        if body:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}})
        return {"text": self.text()[:4000], "blocks": blocks}


def occurrence_message(
    rule_name: str, title: str, n: int, detail: Mapping[str, Any], link: str | None, base_url: str = ""
) -> Message:
    head = f"[Academy Ops] {title}"
    lines = [f"Rule: {rule_name}", f"Occurrence #{n}" + (" (next notification at the next power of ten)" if n > 1 else "")]
    lines += [f"{k}: {v}" for k, v in sorted(detail.items())][:20]
    return Message(head[:200], tuple(lines), _link(link, base_url))


def digest_message(rule_name: str, subject: str, count: int, minutes: int, link: str | None, base_url: str = "") -> Message:
    head = f"[Academy Ops] Digest: {count} more occurrence{'s' if count != 1 else ''} of {subject}"
    return Message(
        head[:200],
        (f"Rule: {rule_name}", f"Suppressed by throttling over the last {minutes} min or more."),
        _link(link, base_url),
    )


def _link(link: str | None, base_url: str) -> str | None:
    if not link:
        return None
    return f"{base_url.rstrip('/')}{link}" if base_url and link.startswith("/") else link
