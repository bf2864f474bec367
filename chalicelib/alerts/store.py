"""Alerts: the ``alerts`` and ``alert-log`` tables and their writes (no HTTP here).

``alerts`` — partition ``pk``, sort key ``sk``:
- ``rule`` / ``<rule id>``: a rule (one partition: the engine reads every rule with one Query);
- ``channel`` / ``<channel id>``: a webhook channel (its name and masked hint; the URL is in SSM);
- ``meta`` / ``defaults``: the default rules were created once (deleting one later does not bring it back);
- ``thr#<rule>#<subject>`` / ``state``: the throttle of one (rule, subject): occurrences counted, suppressed
  since the last digest, the digest window;
- ``thr#<rule>#<subject>`` / ``occ#<occurrence>``: the claim of one occurrence (its number, whether it was
  sent, the digest it released), written in one transaction with the throttle (never two claims, never a
  count moved without its claim).

``alert-log`` — one row per notification and channel (``key`` = rule, subject, occurrence, channel): its
delivery state (queued, sent, failed, suppressed), attempts, last error and a short send lease, listed
newest first through ``by_kind`` (``kind`` = ``log``, ``id`` a ULID).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.models import Model

from chalicelib.alerts import domain
from chalicelib.core.db import (
    UTCDateTime,
    condition_failed,
    gsi,
    iso,
    meta,
    new_id,
    query_page,
    transaction,
    transition,
    utcnow,
)
from chalicelib.core.errors import Conflicting, Missing

RULE, CHANNEL, META = "rule", "channel", "meta"
STATE = "state"
LOG_KIND = "log"
ANY_CHANNEL = "*"  # the log row of a suppressed occurrence (no channel was sent to)
WAITING = "1"
LEASE_S = 60  # a delivery in progress: another run of the same notification waits this long before taking over


class Alert(Model):
    Meta = meta("alerts")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    # rules and channels
    name = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    scope_area = UnicodeAttribute(null=True)
    scope_job_type = UnicodeAttribute(null=True)
    scope_source = UnicodeAttribute(null=True)
    params = UnicodeAttribute(null=True)  # JSON {name: number}
    channels = ListAttribute(of=UnicodeAttribute, null=True)
    digest_minutes = NumberAttribute(null=True)
    enabled = BooleanAttribute(null=True)
    hint = UnicodeAttribute(null=True)  # a channel's masked URL
    fingerprint = UnicodeAttribute(null=True)  # sha256 of a channel's URL (an idempotent create compares it)
    created_at = UTCDateTime(null=True)
    updated_at = UTCDateTime(null=True)
    # throttle and claims
    n = NumberAttribute(null=True)
    pending = NumberAttribute(null=True)
    window_start = UTCDateTime(null=True)
    digest_seq = NumberAttribute(null=True)
    notify = BooleanAttribute(null=True)
    digest = NumberAttribute(null=True)  # a claim: the size of the digest it released (0: none)
    rule = UnicodeAttribute(null=True)  # a throttle's or a digest's rule and subject (the sweep reads them)
    subject = UnicodeAttribute(null=True)
    waiting = UnicodeAttribute(null=True)  # "1": a throttle with suppressed occurrences, or a digest not yet sent
    by_waiting = gsi("by_waiting", "waiting", "pk")  # sparse: only what the digest sweep must look at


class AlertLog(Model):
    Meta = meta("alert-log")
    key = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    kind = UnicodeAttribute(default=LOG_KIND)
    rule_id = UnicodeAttribute()
    rule_name = UnicodeAttribute(null=True)
    subject = UnicodeAttribute()
    occurrence = UnicodeAttribute()
    channel = UnicodeAttribute()
    state = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    error = UnicodeAttribute(null=True)
    title = UnicodeAttribute(null=True)
    n = NumberAttribute(null=True)
    digest_count = NumberAttribute(null=True)
    lease_until = UTCDateTime(null=True)
    at = UTCDateTime()
    by_kind = gsi("by_kind", "kind", "id")


# --- rules ---------------------------------------------------------------------------------------


def to_rule(row: Alert) -> domain.Rule:
    return domain.Rule(
        rule_id=row.sk,
        name=row.name or row.sk,
        kind=row.kind or "",
        scope=domain.RuleScope(row.scope_area or "", row.scope_job_type or "", row.scope_source or ""),
        params=json.loads(row.params) if row.params else {},
        channels=tuple(str(c) for c in row.channels or ()),  # pynamodb types the elements as the attribute class
        digest_minutes=int(row.digest_minutes or domain.DEFAULT_DIGEST_MINUTES),
        enabled=bool(row.enabled),
    )


def _rule_row(rule: domain.Rule, now: datetime) -> Alert:
    return Alert(
        pk=RULE,
        sk=rule.rule_id,
        name=rule.name,
        kind=rule.kind,
        scope_area=rule.scope.area or None,
        scope_job_type=rule.scope.job_type or None,
        scope_source=rule.scope.source or None,
        params=json.dumps(dict(rule.params), sort_keys=True),
        channels=list(rule.channels),
        digest_minutes=rule.digest_minutes,
        enabled=rule.enabled,
        created_at=now,
        updated_at=now,
    )


def get_rule(rule_id: str) -> Alert:
    try:
        return Alert.get(RULE, rule_id, consistent_read=True)
    except Alert.DoesNotExist as exc:
        raise Missing(f"Alert rule {rule_id} does not exist.", code="rule_not_found", details={"rule_id": rule_id}) from exc


def create_rule(rule: domain.Rule) -> tuple[Alert, bool]:
    """Create the rule (conditional put); the same rule again is ``(existing, False)``; another one → 409."""
    row = _rule_row(rule, utcnow())
    try:
        row.save(condition=Alert.sk.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise
        existing = get_rule(rule.rule_id)
        if to_rule(existing) == rule:
            return existing, False
        raise Conflicting(
            f"Alert rule {rule.rule_id} exists with other fields; change it with PUT.",
            code="rule_exists",
            details={"rule_id": rule.rule_id},
        ) from exc
    return row, True


def replace_rule(rule: domain.Rule) -> tuple[Alert, bool]:
    """Replace the rule's fields; ``changed`` False (nothing written) when they are the same already."""
    existing = get_rule(rule.rule_id)
    if to_rule(existing) == rule:
        return existing, False
    row = _rule_row(rule, utcnow())
    row.created_at = existing.created_at
    try:
        row.save(condition=Alert.sk.exists())
    except PutError as exc:
        if condition_failed(exc):
            raise Missing(f"Alert rule {rule.rule_id} does not exist.", code="rule_not_found") from exc
        raise
    return row, True


def delete_rule(rule_id: str) -> None:
    from pynamodb.exceptions import DeleteError

    try:
        Alert(pk=RULE, sk=rule_id).delete(condition=Alert.sk.exists())
    except DeleteError as exc:
        if condition_failed(exc):
            raise Missing(f"Alert rule {rule_id} does not exist.", code="rule_not_found", details={"rule_id": rule_id}) from exc
        raise


def rules_page(limit: int, next_token: str | None) -> tuple[list[Alert], str | None]:
    return query_page(Alert.query, RULE, limit=limit, next_token=next_token, consistent_read=True)


def all_rules() -> list[domain.Rule]:
    """Every rule (the engine's one read per signal; rules are few)."""
    return [to_rule(r) for r in Alert.query(RULE, consistent_read=True)]


def ensure_defaults(rules: list[domain.Rule]) -> int:
    """Create ``rules`` once per stack (a marker row remembers it): returns how many were created now."""
    try:
        Alert.get(META, "defaults", consistent_read=True)
        return 0
    except Alert.DoesNotExist:
        pass
    made = 0
    now = utcnow()
    for rule in rules:
        try:
            _rule_row(rule, now).save(condition=Alert.sk.does_not_exist())
            made += 1
        except PutError as exc:
            if not condition_failed(exc):
                raise
    Alert(pk=META, sk="defaults", created_at=now).save()
    return made


# --- webhook channels ----------------------------------------------------------------------------


def fingerprint(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def get_channel(channel_id: str) -> Alert:
    try:
        return Alert.get(CHANNEL, channel_id, consistent_read=True)
    except Alert.DoesNotExist as exc:
        raise Missing(
            f"Alert channel {channel_id} does not exist.", code="channel_not_found", details={"channel_id": channel_id}
        ) from exc


def create_channel(channel_id: str, name: str, hint: str, print_: str) -> tuple[Alert, bool]:
    row = Alert(pk=CHANNEL, sk=channel_id, name=name, kind="webhook", hint=hint, fingerprint=print_, created_at=utcnow())
    try:
        row.save(condition=Alert.sk.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise
        existing = get_channel(channel_id)
        if existing.fingerprint == print_ and existing.name == name:
            return existing, False
        raise Conflicting(
            f"Alert channel {channel_id} exists with another name or URL; delete it first.",
            code="channel_exists",
            details={"channel_id": channel_id},
        ) from exc
    return row, True


def channels() -> list[Alert]:
    return list(Alert.query(CHANNEL, consistent_read=True))


def channel_ids() -> set[str]:
    return {c.sk for c in channels()}


def delete_channel(channel_id: str) -> None:
    Alert(pk=CHANNEL, sk=channel_id).delete()


# --- throttle and claims -------------------------------------------------------------------------


def _part(rule_id: str, subject: str) -> str:
    key = f"thr#{rule_id}#{subject}"
    return key if len(key) <= 512 else f"thr#{rule_id}#h:{hashlib.sha256(subject.encode()).hexdigest()}"


def _occ(occurrence: str) -> str:
    key = f"occ#{occurrence}"
    return key if len(key) <= 512 else f"occ#h:{hashlib.sha256(occurrence.encode()).hexdigest()}"


@dataclass(frozen=True)
class Claimed:
    n: int
    notify: bool
    digest: int  # suppressed occurrences this claim released as a digest (0: none)
    digest_seq: int
    new: bool  # False: an earlier (or concurrent) delivery of the same occurrence claimed it


def _throttle(row: Alert | None) -> domain.Throttle:
    if row is None:
        return domain.Throttle()
    return domain.Throttle(int(row.n or 0), int(row.pending or 0), row.window_start, int(row.digest_seq or 0))


def _read(pk: str, sk: str) -> Alert | None:
    try:
        return Alert.get(pk, sk, consistent_read=True)
    except Alert.DoesNotExist:
        return None


def _claimed(row: Alert) -> Claimed:
    return Claimed(int(row.n or 0), bool(row.notify), int(row.digest or 0), int(row.digest_seq or 0), new=False)


def claim(rule: domain.Rule, subject: str, occurrence: str, now: datetime) -> Claimed:
    """Count one occurrence of (rule, subject) exactly once: one transaction puts the claim (if absent) and
    moves the throttle (if unchanged since read). A duplicate gets the first claim's decision back."""
    pk, sk = _part(rule.rule_id, subject), _occ(occurrence)
    for attempt in range(50):
        if attempt:
            time.sleep(random.uniform(0, min(0.2, 0.01 * attempt)))
        found = _read(pk, sk)
        if found is not None:
            return _claimed(found)
        state_row = _read(pk, STATE)
        state = _throttle(state_row)
        d = domain.decide(state, now, rule.digest_minutes)
        claim_row = Alert(pk=pk, sk=sk, n=d.n, notify=d.notify, digest=d.digest, digest_seq=d.after.digest_seq, created_at=now)
        st = Alert(pk=pk, sk=STATE)
        actions: list[Any] = [
            Alert.n.set(d.after.n),
            Alert.pending.set(d.after.pending),
            Alert.digest_seq.set(d.after.digest_seq),
            Alert.updated_at.set(now),
            Alert.rule.set(rule.rule_id),
            Alert.subject.set(subject),
            Alert.waiting.set(WAITING) if d.after.pending else Alert.waiting.remove(),
        ]
        if d.after.window_start is not None:
            actions.append(Alert.window_start.set(d.after.window_start))
        cond = Alert.n.does_not_exist() if state_row is None else (Alert.n == state.n) & (Alert.pending == state.pending)
        try:
            with transaction() as tx:
                tx.save(claim_row, condition=Alert.sk.does_not_exist())
                tx.update(st, actions=actions, condition=cond)
        except TransactWriteError:
            continue  # a duplicate claimed it, or another occurrence moved the throttle: read again
        return Claimed(d.n, d.notify, d.digest, d.after.digest_seq, new=True)
    raise RuntimeError(f"could not claim {rule.rule_id}/{subject}/{occurrence}: the throttle kept changing")


def any_waiting() -> bool:
    """Whether anything waits for the digest sweep (one item read from the sparse index, at most)."""
    return next(iter(Alert.by_waiting.query(WAITING, limit=1)), None) is not None


def waiting() -> list[Alert]:
    """What the digest sweep looks at: throttles holding suppressed occurrences, digests not yet delivered."""
    return list(Alert.by_waiting.query(WAITING))


def release_digest(rule: domain.Rule, subject: str, now: datetime) -> Alert | None:
    """The sweep: if suppressed occurrences of (rule, subject) wait past the period, one transaction resets
    the throttle and puts the digest's row (``occ#digest#<seq>``, waiting until delivered); returns that row.
    None when nothing is due or another sweep (or an occurrence) moved the throttle first."""
    pk = _part(rule.rule_id, subject)
    row = _read(pk, STATE)
    state = _throttle(row)
    if row is None or not domain.digest_due(state, now, rule.digest_minutes):
        return None
    seq = state.digest_seq + 1
    digest = Alert(
        pk=pk,
        sk=_occ(f"digest#{seq}"),
        digest=state.pending,
        digest_seq=seq,
        rule=rule.rule_id,
        subject=subject,
        waiting=WAITING,
        created_at=now,
    )
    actions: list[Any] = [
        Alert.pending.set(0),
        Alert.window_start.set(now),
        Alert.digest_seq.set(seq),
        Alert.updated_at.set(now),
        Alert.waiting.remove(),
    ]
    cond = (Alert.n == state.n) & (Alert.pending == state.pending) & (Alert.digest_seq == state.digest_seq)
    try:
        with transaction() as tx:
            tx.save(digest, condition=Alert.sk.does_not_exist())
            tx.update(Alert(pk=pk, sk=STATE), actions=actions, condition=cond)
    except TransactWriteError:
        return None
    return digest


def delivered(row: Alert) -> None:
    """A digest's every channel is sent: the sweep stops looking at it."""
    row.update(actions=[Alert.waiting.remove()])


def throttle_of(rule_id: str, subject: str) -> domain.Throttle:
    return _throttle(_read(_part(rule_id, subject), STATE))


# --- the alert log -------------------------------------------------------------------------------


def log_key(rule_id: str, subject: str, occurrence: str, channel: str) -> str:
    raw = json.dumps([rule_id, subject, occurrence, channel], separators=(",", ":"))
    return raw if len(raw) <= 1024 else "h:" + hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Notification:
    rule_id: str
    rule_name: str
    subject: str
    occurrence: str  # the signal's, or ``digest#<seq>``
    title: str
    n: int | None = None
    digest_count: int | None = None


def find_log(key: str) -> AlertLog | None:
    try:
        return AlertLog.get(key, consistent_read=True)
    except AlertLog.DoesNotExist:
        return None


def log_suppressed(note: Notification, now: datetime) -> None:
    """Record a throttled occurrence once (a duplicate finds the row and writes nothing)."""
    row = _log_row(note, ANY_CHANNEL, "suppressed", now)
    try:
        row.save(condition=AlertLog.key.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise


def _log_row(note: Notification, channel: str, state: str, now: datetime) -> AlertLog:
    return AlertLog(
        key=log_key(note.rule_id, note.subject, note.occurrence, channel),
        id=new_id(),
        rule_id=note.rule_id,
        rule_name=note.rule_name,
        subject=note.subject[:1000],
        occurrence=note.occurrence[:500],
        channel=channel,
        state=state,
        attempts=0,
        title=note.title[:300],
        n=note.n,
        digest_count=note.digest_count,
        at=now,
    )


def lease_send(note: Notification, channel: str, now: datetime) -> AlertLog | None:
    """Take the right to send ``note`` to ``channel``: the row (created queued if absent) not sent yet and
    not being sent by another run right now. None: already sent. Raises Conflicting: in progress elsewhere."""
    key = log_key(note.rule_id, note.subject, note.occurrence, channel)
    try:
        _log_row(note, channel, "queued", now).save(condition=AlertLog.key.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise
    row = find_log(key)
    if row is None or row.state == "sent":
        return None
    free = AlertLog.lease_until.does_not_exist() | (AlertLog.lease_until < now)
    if not transition(
        row,
        [AlertLog.lease_until.set(now + timedelta(seconds=LEASE_S)), AlertLog.attempts.add(1), AlertLog.at.set(now)],
        condition=(AlertLog.state != "sent") & free,
    ):
        again = find_log(key)
        if again is None or again.state == "sent":
            return None
        raise Conflicting(f"notification {key} is being sent by another run", code="delivery_in_progress")
    return row


def finish_send(row: AlertLog, state: str, error: str | None, now: datetime) -> None:
    """Record how one send went (sent, queued for a retry, failed for good) and give the lease back."""
    actions: list[Any] = [AlertLog.state.set(state), AlertLog.lease_until.remove(), AlertLog.at.set(now)]
    actions.append(AlertLog.error.set(error[:500]) if error else AlertLog.error.remove())
    transition(row, actions, condition=AlertLog.state != "sent")  # refused only if already sent: nothing to record


def log_page(limit: int, next_token: str | None) -> tuple[list[AlertLog], str | None]:
    return query_page(AlertLog.by_kind.query, LOG_KIND, limit=limit, next_token=next_token, newest_first=True)


def log_dict(r: AlertLog) -> dict[str, Any]:
    return {
        "id": r.id,
        "rule_id": r.rule_id,
        "rule_name": r.rule_name,
        "subject": r.subject,
        "occurrence": r.occurrence,
        "channel": r.channel,
        "state": r.state,
        "attempts": int(r.attempts or 0),
        "error": r.error,
        "title": r.title,
        "n": int(r.n) if r.n is not None else None,
        "digest_count": int(r.digest_count) if r.digest_count is not None else None,
        "at": iso(r.at),
    }
