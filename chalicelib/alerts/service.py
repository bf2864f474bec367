"""Alerts: the engine (``fire`` → the ``alerts.evaluate`` job → claims, throttling, delivery) and the
admin use cases (rules, webhook channels, email subscriptions).

``fire`` is what :func:`chalicelib.alerts.signals.emit` calls in the producer: it only dispatches one job
(its dedupe key is the signal's (kind, subject, occurrence), so a duplicate emit enqueues once). The job
runs on the ``jobs`` queue: retried with back-off, visible on the Jobs page, failed after the queue's
receives. Per matching rule it claims the occurrence (one transaction: never two claims, never a count
without its claim), sends the 1st, 10th, 100th … and records the others as suppressed, releasing them as
a digest once ``digest_minutes`` passed since the last one; each (notification, channel) is sent at most
once (a lease on its alert-log row; a retry re-sends only the channels that did not succeed).
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from chalicelib.alerts import domain, store
from chalicelib.alerts.signals import KINDS, Scope, Signal
from chalicelib.core import aws
from chalicelib.core.db import new_id, utcnow
from chalicelib.core.errors import Conflicting, Invalid, Missing
from chalicelib.core.observability import logger
from chalicelib.core.settings import get_settings

JOB_TYPE = "alerts.evaluate"
WEBHOOK_TIMEOUT_S = 5


# --- the producer's side -------------------------------------------------------------------------


def dedupe_key(signal: Signal) -> str:
    raw = json.dumps([signal.kind, signal.subject, signal.occurrence], separators=(",", ":"))
    return "alert:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def payload_of(signal: Signal) -> dict[str, Any]:
    out = asdict(signal)
    out["detail"] = dict(signal.detail)
    return out


def signal_of(payload: Mapping[str, Any]) -> Signal:
    scope = payload.get("scope") or {}
    return Signal(
        kind=payload["kind"],
        subject=str(payload["subject"]),
        occurrence=str(payload["occurrence"]),
        title=str(payload.get("title") or payload["kind"]),
        scope=Scope(scope.get("area"), scope.get("job_type"), scope.get("source")),
        link=payload.get("link"),
        count=payload.get("count"),
        detail=dict(payload.get("detail") or {}),
    )


def fire(signal: Signal) -> None:
    """Queue the evaluation of ``signal`` (one job per (kind, subject, occurrence), whoever emits it again)."""
    from chalicelib.jobs.dispatch import dispatch

    if signal.kind not in KINDS:
        raise ValueError(f"unknown alert kind {signal.kind!r}")
    entity = {"type": "alert", "id": f"{signal.kind}:{signal.subject}"[:200]}
    dispatch(JOB_TYPE, payload_of(signal), entity=entity, dedupe_key=dedupe_key(signal))


# --- defaults ------------------------------------------------------------------------------------


def default_rules() -> list[domain.Rule]:
    """One enabled rule per kind, to the email channel, ids ``default-<kind>``."""
    return [
        domain.Rule(
            f"default-{kind.replace('.', '-').replace('_', '-')}",
            domain.DEFAULT_NAMES[kind],
            kind,
            params=domain.with_defaults(kind, {}),
        )
        for kind in KINDS
    ]


def ensure_defaults() -> int:
    return store.ensure_defaults(default_rules())


# --- the job -------------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def evaluate(payload: Mapping[str, Any], *, final_attempt: bool) -> dict[str, Any]:
    """The body of ``alerts.evaluate``. Raises TransientJobError (retry) while a channel fails, PermanentJobError
    when only permanent failures remain (a deleted channel, a refused URL)."""
    from chalicelib.jobs.errors import PermanentJobError, TransientJobError

    signal = signal_of(payload)
    ensure_defaults()
    now = utcnow()
    rules = [
        r
        for r in store.all_rules()
        if domain.matches(r, signal.kind, signal.scope.area, signal.scope.job_type, signal.scope.source)
        and domain.passes(r, signal.detail)
    ]
    report: dict[str, Any] = {"rules": len(rules), "sent": 0, "suppressed": 0, "digests": 0, "skipped": 0}
    transient: list[str] = []
    permanent: list[str] = []
    for rule in rules:
        got = store.claim(rule, signal.subject, signal.occurrence, now)
        notes: list[tuple[store.Notification, domain.Message]] = []
        base = store.Notification(rule.rule_id, rule.name, signal.subject, signal.occurrence, signal.title, n=got.n)
        if got.notify:
            message = domain.occurrence_message(rule.name, signal.title, got.n, signal.detail, signal.link)
            notes.append((base, message))
        else:
            store.log_suppressed(base, now)
            report["suppressed"] += 1
        if got.digest:
            digest = store.Notification(
                rule.rule_id,
                rule.name,
                signal.subject,
                f"digest#{got.digest_seq}",
                f"Digest: {got.digest} more of {signal.title}",
                digest_count=got.digest,
            )
            notes.append((digest, domain.digest_message(rule.name, signal.subject, got.digest, rule.digest_minutes, signal.link)))
            report["digests"] += 1
        for note, message in notes:
            for channel in rule.channels:
                outcome = _deliver_once(note, channel, message, final_attempt=final_attempt)
                if outcome == "sent":
                    report["sent"] += 1
                    if signal.kind.startswith("incident."):  # the subject is a group: its timeline says who was told
                        _notified(signal.subject, note, channel)
                elif outcome == "skipped":
                    report["skipped"] += 1
                elif outcome == "permanent":
                    permanent.append(f"{rule.rule_id}/{channel}")
                else:
                    transient.append(f"{rule.rule_id}/{channel}")
    if transient:
        raise TransientJobError(f"alert delivery failed on {', '.join(transient)}; retried")
    if permanent:
        raise PermanentJobError(f"alert delivery failed for good on {', '.join(permanent)}")
    return report


def _notified(group_id: str, note: store.Notification, channel: str) -> None:
    """A ``notified`` entry on the incident group's timeline, once per sent (rule, occurrence, channel): a send
    is marked sent once, so a retried job does not add it again. Best effort: the notification is sent and
    in the alert log already."""
    from chalicelib.incidents import store as incidents

    details: dict[str, Any] = {"rule_id": note.rule_id, "rule": note.rule_name, "channel": channel, "occurrence": note.occurrence}
    if note.digest_count:
        details["digest_count"] = note.digest_count
    try:
        incidents.add_entry(group_id, "notified", utcnow(), {"role": "system", "id": "alerts"}, details)
    except Exception:  # noqa: BLE001 - the timeline entry is a record of the send, not the send
        logger.warning("alert sent; its timeline entry was not written", extra={"group_id": group_id}, exc_info=True)


def _deliver_once(note: store.Notification, channel: str, message: domain.Message, *, final_attempt: bool) -> str:
    """sent | skipped (sent before) | transient | permanent; the alert log row records it."""
    now = utcnow()
    try:
        row = store.lease_send(note, channel, now)
    except Conflicting:
        return "transient"  # another run sends it right now: this job comes back and finds it sent
    if row is None:
        return "skipped"
    try:
        send(channel, message)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the row and gives the lease back
        failure = exc if isinstance(exc, DeliveryFailed) else DeliveryFailed(f"{type(exc).__name__}", permanent=False)
        final = failure.permanent or final_attempt
        store.finish_send(row, "failed" if final else "queued", str(failure), utcnow())
        logger.warning("alert delivery failed", extra={"rule_id": note.rule_id, "channel": channel, "final": final})
        return "permanent" if failure.permanent else "transient"
    store.finish_send(row, "sent", None, utcnow())
    logger.info("alert sent", extra={"rule_id": note.rule_id, "channel": channel, "occurrence": note.occurrence})
    return "sent"


def _local() -> bool:
    """The local stack (dev auth; refused on Lambda by the settings): loopback webhooks and the console line."""
    return get_settings().dev_auth


def send(channel: str, message: domain.Message) -> None:
    """Send one message to one channel; DeliveryFailed says whether a retry can help."""
    if _local():
        print(f"ALERT → {channel}: {message.title}", file=sys.stderr, flush=True)  # academy up's output
    if channel == domain.EMAIL:
        _publish(message)
    else:
        _post(channel, message)


def _publish(message: domain.Message) -> None:
    topic = get_settings().alerts_topic_arn
    if not topic:
        raise DeliveryFailed("the alerts topic is not configured (ACADEMY_ALERTS_TOPIC)", permanent=True)
    try:
        aws.client("sns").publish(TopicArn=topic, Subject=message.title[:100], Message=message.text())
    except Exception as exc:
        raise DeliveryFailed(f"SNS publish failed: {type(exc).__name__}", permanent=False) from exc


def parameter_name(channel_id: str) -> str:
    return f"/academy/{get_settings().stage}/alerts/webhooks/{channel_id}"


def _webhook_url(channel_id: str) -> str:
    try:
        got = aws.client("ssm").get_parameter(Name=parameter_name(channel_id), WithDecryption=True)
    except Exception as exc:
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
        if code == "ParameterNotFound":
            raise DeliveryFailed(f"channel {channel_id} has no URL (deleted?)", permanent=True) from exc
        raise DeliveryFailed(f"reading channel {channel_id} failed: {type(exc).__name__}", permanent=False) from exc
    return str(got["Parameter"]["Value"])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer, not an address to follow (it could point inside)


def _post(channel_id: str, message: domain.Message) -> None:
    url = _webhook_url(channel_id)
    local = _local()
    why = domain.url_error(url, local=local)
    if why:
        raise DeliveryFailed(f"channel {channel_id}: URL refused on this stage ({why})", permanent=True)
    host = urlsplit(url).hostname or ""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise DeliveryFailed(f"channel {channel_id}: {domain.mask(url)} does not resolve", permanent=False) from exc
    if not all(domain.address_allowed(a.split("%")[0], local=local) for a in addresses):
        raise DeliveryFailed(f"channel {channel_id}: {domain.mask(url)} resolves to a private address", permanent=True)
    body = json.dumps(message.slack()).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:  # refused, timed out, TLS
        raise DeliveryFailed(
            f"channel {channel_id}: {domain.mask(url)} unreachable ({type(exc).__name__})", permanent=False
        ) from exc
    if 200 <= status < 300:
        return
    retry = status >= 500 or status in (408, 429)
    raise DeliveryFailed(f"channel {channel_id}: {domain.mask(url)} answered {status}", permanent=not retry)


# --- the digest sweep ------------------------------------------------------------------------------

SWEEP_JOB_TYPE = "alerts.sweep_digests"
SWEEP_EVERY_MIN = 5


def request_sweep(now: datetime | None = None) -> None:
    """Queue one digest sweep per 5-minute slot (the monitor watchdog calls it on each run; a duplicate call
    in the same slot is the same job). Needs only what :func:`fire` needs."""
    from chalicelib.jobs.dispatch import dispatch

    at = now or utcnow()
    slot = at.replace(minute=at.minute - at.minute % SWEEP_EVERY_MIN, second=0, microsecond=0)
    dispatch(SWEEP_JOB_TYPE, {"slot": slot.isoformat()}, dedupe_key=f"alert-sweep:{slot.isoformat()}")


def sweep_if_waiting(now: datetime | None = None) -> bool:
    """The monitor watchdog's call (every 5 minutes): queue the digest sweep only when a throttle holds
    suppressed occurrences or a digest waits to be delivered (a quiet stack queues nothing)."""
    if not store.any_waiting():
        return False
    request_sweep(now)
    return True


def sweep_digests(*, final_attempt: bool) -> dict[str, Any]:
    """Send the digests that are due though no new occurrence came to send them, and any digest an earlier
    sweep released but could not deliver. Each digest is a row first (one transaction with the throttle's
    reset), so a failed delivery is retried by the job, never lost, never sent twice."""
    from chalicelib.jobs.errors import TransientJobError

    now = utcnow()
    rules = {r.rule_id: r for r in store.all_rules()}
    report = {"released": 0, "sent": 0, "failed": 0}
    failed: list[str] = []
    for row in store.waiting():
        rule = rules.get(row.rule or "")
        if rule is None or not rule.enabled or row.subject is None:
            continue
        digest = row if row.sk != store.STATE else store.release_digest(rule, row.subject, now)
        if digest is None:
            continue
        report["released"] += digest is not row
        count = int(digest.digest or 0)
        note = store.Notification(
            rule.rule_id,
            rule.name,
            row.subject,
            f"digest#{int(digest.digest_seq or 0)}",
            f"Digest: {count} more of {row.subject}",
            digest_count=count,
        )
        message = domain.digest_message(rule.name, row.subject, count, rule.digest_minutes, None)
        outcomes = [_deliver_once(note, channel, message, final_attempt=final_attempt) for channel in rule.channels]
        if all(o in ("sent", "skipped") for o in outcomes):
            store.delivered(digest)
            report["sent"] += 1
        elif "transient" in outcomes:
            failed.append(f"{rule.rule_id}/{row.subject}")
        else:
            store.delivered(digest)  # refused for good on some channel (the alert log says which): do not retry
            report["failed"] += 1
    if failed:
        raise TransientJobError(f"digest delivery failed for {', '.join(failed)}; retried")
    return report


# --- admin: rules ----------------------------------------------------------------------------------


def check_channels(channels: list[str]) -> None:
    known = {domain.EMAIL} | store.channel_ids()
    unknown = [c for c in channels if c not in known]
    if unknown:
        raise Invalid(
            f"Unknown channels: {', '.join(unknown)} (email, or a webhook channel's id).",
            code="unknown_channel",
            details={"fields": {"channels": f"unknown: {', '.join(unknown)}"}},
        )


def check_params(kind: str, params: Mapping[str, Any]) -> None:
    errors = domain.param_errors(kind, params)
    if errors:
        raise Invalid(f"Invalid fields: {', '.join(sorted(errors))}.", details={"fields": errors})


class _NoScope:
    area = job_type = source = None


_NO_SCOPE = _NoScope()


def build_rule(rule_id: str, body: Any) -> domain.Rule:
    """A rule from a validated request body (its kind's parameters, defaults filled in; its channels known)."""
    check_params(body.kind, body.params)
    check_channels(body.channels)
    scope = body.scope or _NO_SCOPE
    return domain.Rule(
        rule_id=rule_id,
        name=body.name,
        kind=body.kind,
        scope=domain.RuleScope(scope.area or "", scope.job_type or "", scope.source or ""),
        params=domain.with_defaults(body.kind, body.params),
        channels=tuple(dict.fromkeys(body.channels)),
        digest_minutes=body.digest_minutes,
        enabled=body.enabled,
    )


def create_rule(body: Any) -> tuple[store.Alert, bool]:
    return store.create_rule(build_rule(body.id or new_id(), body))


def list_rules(limit: int, next_token: str | None) -> tuple[list[store.Alert], str | None]:
    ensure_defaults()  # a new stack's first read creates the defaults (once; see store.ensure_defaults)
    return store.rules_page(limit, next_token)


# --- admin: webhook channels -------------------------------------------------------------------------


def create_channel(body: Any) -> tuple[store.Alert, bool]:
    """Store the URL as a SecureString parameter, then the channel's row (name, masked hint, fingerprint)."""
    url = body.url
    why = domain.url_error(url, local=_local())
    if why:
        raise Invalid(f"The webhook URL is refused: {why}.", code="invalid_webhook_url", details={"fields": {"url": why}})
    channel_id = body.id or new_id()
    if channel_id == domain.EMAIL:
        raise Invalid("'email' is the built-in email channel.", details={"fields": {"id": "reserved"}})
    printed = store.fingerprint(url)
    try:
        existing = store.get_channel(channel_id)
    except Missing:
        existing = None
    if existing is not None:
        return store.create_channel(channel_id, body.name, domain.mask(url), printed)  # same → unchanged; else 409
    aws.client("ssm").put_parameter(
        Name=parameter_name(channel_id),
        Value=url,
        Type="SecureString",
        Overwrite=True,
        Description="Academy Ops alert webhook (the console shows only its host)",
    )
    return store.create_channel(channel_id, body.name, domain.mask(url), printed)


def delete_channel(channel_id: str) -> None:
    store.get_channel(channel_id)
    using = [r.rule_id for r in store.all_rules() if channel_id in r.channels]
    if using:
        raise Conflicting(
            f"Channel {channel_id} is used by rules {', '.join(using)}; remove it from them first.",
            code="channel_in_use",
            details={"rules": using},
        )
    try:
        aws.client("ssm").delete_parameter(Name=parameter_name(channel_id))
    except Exception as exc:
        if (getattr(exc, "response", None) or {}).get("Error", {}).get("Code") != "ParameterNotFound":
            raise
    store.delete_channel(channel_id)


# --- admin: email subscriptions ----------------------------------------------------------------------


def _topic() -> str:
    topic = get_settings().alerts_topic_arn
    if not topic:
        raise Conflicting("This stack has no alerts topic configured (ACADEMY_ALERTS_TOPIC).", code="no_alerts_topic")
    return topic


def subscription_id(arn: str) -> str:
    """The last part of a subscription's ARN (what the routes take); pending ones have none yet."""
    return arn.rsplit(":", 1)[-1] if arn.startswith("arn:") else ""


def subscriptions() -> list[dict[str, Any]]:
    topic = _topic()
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kw: dict[str, Any] = {"TopicArn": topic, **({"NextToken": token} if token else {})}
        got = aws.client("sns").list_subscriptions_by_topic(**kw)
        for s in got.get("Subscriptions", []):
            if s.get("Protocol") != "email":
                continue
            arn = str(s.get("SubscriptionArn") or "")
            sid = subscription_id(arn)
            out.append({"subscription_id": sid or None, "email": s.get("Endpoint"), "status": "confirmed" if sid else "pending"})
        token = got.get("NextToken")
        if not token:
            return out


def subscribe(email: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        got = aws.client("sns").subscribe(TopicArn=_topic(), Protocol="email", Endpoint=email, ReturnSubscriptionArn=True)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("InvalidParameter", "InvalidParameterException"):
            raise
        raise Invalid("SNS refused this address.", code="invalid_email", details={"fields": {"email": "refused by SNS"}}) from exc
    arn = str(got.get("SubscriptionArn") or "")
    sid = subscription_id(arn)
    confirmed = any(s["subscription_id"] == sid and s["status"] == "confirmed" for s in subscriptions()) if sid else False
    return {"subscription_id": sid or None, "email": email, "status": "confirmed" if confirmed else "pending"}


def unsubscribe(sid: str) -> None:
    topic = _topic()
    if not any(s["subscription_id"] == sid for s in subscriptions()):
        raise Missing(f"Subscription {sid} is not on this stack's alerts topic.", code="subscription_not_found")
    aws.client("sns").unsubscribe(SubscriptionArn=f"{topic}:{sid}")
