"""Admin > Insights > Alerts: rules, channels, email subscriptions and the alert log (HTTP routes, thin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.alerts import domain, service, store
from chalicelib.core.api import LIST_QUERY, Audit, Reply, Req, route, schemas
from chalicelib.core.db import iso
from chalicelib.core.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.alerts.schemas import ChannelIn, RuleIn, RuleUpdate, SubscriptionIn
    from chalicelib.core.schema import ListQuery

bp = Blueprint(__name__)
S = schemas("chalicelib.alerts.schemas")

RulePage = S.page("RuleOut")
LogPage = S.page("LogOut")
TAG = "alerts"


def rule_out(row: store.Alert) -> dict[str, Any]:
    r = store.to_rule(row)
    scope = {"area": r.scope.area or None, "job_type": r.scope.job_type or None, "source": r.scope.source or None}
    return {
        "id": r.rule_id,
        "name": r.name,
        "kind": r.kind,
        "scope": scope,
        "params": dict(r.params),
        "channels": list(r.channels),
        "digest_minutes": r.digest_minutes,
        "enabled": r.enabled,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def channel_out(row: store.Alert) -> dict[str, Any]:
    return {"id": row.sk, "name": row.name or row.sk, "kind": "webhook", "hint": row.hint, "created_at": iso(row.created_at)}


# --- rules -------------------------------------------------------------------------------------------


@route(bp, "/admin/alerts/rules", "GET", auth="admin", query=LIST_QUERY, response=RulePage, tag=TAG)
def list_rules(req: Req[None, ListQuery]) -> dict[str, Any]:
    """The alert rules, in id order (a new stack's first read creates the default rules, once)."""
    items, token = service.list_rules(req.query.limit, req.query.next_token)
    return {"items": [rule_out(r) for r in items], "next_token": token}


@route(
    bp,
    "/admin/alerts/rules",
    "POST",
    auth="admin",
    body=S.RuleIn,
    response=S.RuleOut,
    status=201,
    also={200: S.RuleOut},
    errors=(409,),
    tag=TAG,
    audit="alert_rule.create",
)
def create_rule(req: Req[RuleIn, None]) -> Reply:
    """Create a rule: 201; with an ``id``, the same request again → 200 (unchanged), other fields → 409 ``rule_exists``."""
    row, created = service.create_rule(req.body)
    if req.audit is not None:
        req.audit.target = f"alert_rule:{row.sk}"
        req.audit.result["created"] = created
    return Reply(rule_out(row), status=201 if created else 200)


@route(bp, "/admin/alerts/rules/{rule_id}", "GET", auth="admin", response=S.RuleOut, tag=TAG, ids=("rule_id",))
def get_rule(req: Req[None, None], rule_id: str) -> dict[str, Any]:
    """One rule."""
    return rule_out(store.get_rule(rule_id))


@route(
    bp,
    "/admin/alerts/rules/{rule_id}",
    "PUT",
    auth="admin",
    body=S.RuleUpdate,
    response=S.RuleOut,
    tag=TAG,
    audit=Audit("alert_rule.update", "alert_rule:{rule_id}"),
    ids=("rule_id",),
)
def update_rule(req: Req[RuleUpdate, None], rule_id: str) -> dict[str, Any]:
    """Replace a rule's fields (disable it with ``enabled: false``); the same body again changes nothing."""
    row, changed = store.replace_rule(service.build_rule(rule_id, req.body))
    if req.audit is not None:
        req.audit.result["changed"] = changed
    return rule_out(row)


@route(
    bp,
    "/admin/alerts/rules/{rule_id}",
    "DELETE",
    auth="admin",
    response=S.Deleted,
    tag=TAG,
    audit=Audit("alert_rule.delete", "alert_rule:{rule_id}"),
    ids=("rule_id",),
)
def delete_rule(req: Req[None, None], rule_id: str) -> dict[str, Any]:
    """Delete a rule (again → 404). Its alert log stays."""
    store.delete_rule(rule_id)
    return {"deleted": True}


# --- channels ----------------------------------------------------------------------------------------


@route(bp, "/admin/alerts/channels", "GET", auth="admin", response=S.ChannelList, tag=TAG)
def list_channels(req: Req[None, None]) -> dict[str, Any]:
    """The channels: ``email`` (the stack's alerts topic) and the webhooks (masked: scheme and host only)."""
    email = {"id": domain.EMAIL, "name": "Email (SNS)", "kind": "email", "hint": None, "created_at": None}
    return {"items": [email, *(channel_out(c) for c in store.channels())]}


@route(
    bp,
    "/admin/alerts/channels",
    "POST",
    auth="admin",
    body=S.ChannelIn,
    response=S.ChannelOut,
    status=201,
    also={200: S.ChannelOut},
    errors=(409,),
    tag=TAG,
    audit=Audit("alert_channel.create", params=False),  # the URL is a secret: never in the audit log
)
def create_channel(req: Req[ChannelIn, None]) -> Reply:
    """Add a webhook channel: its URL goes to SSM as a SecureString and is never shown again (only its host).
    Deployed stages take ``https://`` public hosts; the local stack also loopback ``http://``."""
    row, created = service.create_channel(req.body)
    if req.audit is not None:
        req.audit.target = f"alert_channel:{row.sk}"
        req.audit.params = {"id": req.body.id, "name": req.body.name, "hint": row.hint}
        req.audit.result["created"] = created
    return Reply(channel_out(row), status=201 if created else 200)


@route(
    bp,
    "/admin/alerts/channels/{channel_id}",
    "DELETE",
    auth="admin",
    response=S.Deleted,
    errors=(409,),
    tag=TAG,
    audit=Audit("alert_channel.delete", "alert_channel:{channel_id}"),
    ids=("channel_id",),
)
def delete_channel(req: Req[None, None], channel_id: str) -> dict[str, Any]:
    """Delete a webhook channel and its secret; 409 ``channel_in_use`` while a rule sends to it."""
    service.delete_channel(channel_id)
    return {"deleted": True}


# --- email subscriptions -----------------------------------------------------------------------------


@route(bp, "/admin/alerts/email-subscriptions", "GET", auth="admin", response=S.SubscriptionList, errors=(409,), tag=TAG)
def list_subscriptions(req: Req[None, None]) -> dict[str, Any]:
    """The email addresses subscribed to the alerts topic (pending until the address confirms SNS's mail)."""
    return {"items": service.subscriptions(), "topic": get_settings().alerts_topic_arn}


@route(
    bp,
    "/admin/alerts/email-subscriptions",
    "POST",
    auth="admin",
    body=S.SubscriptionIn,
    response=S.SubscriptionOut,
    status=201,
    errors=(409,),
    tag=TAG,
    audit="alert_subscription.create",
)
def subscribe(req: Req[SubscriptionIn, None]) -> dict[str, Any]:
    """Subscribe an address (SNS mails it a confirmation link; the same address again is the same subscription)."""
    out = service.subscribe(req.body.email)
    if req.audit is not None:
        req.audit.target = f"alert_subscription:{out['subscription_id'] or 'pending'}"
    return out


@route(
    bp,
    "/admin/alerts/email-subscriptions/{subscription_id}",
    "DELETE",
    auth="admin",
    response=S.Deleted,
    errors=(409,),
    tag=TAG,
    audit=Audit("alert_subscription.delete", "alert_subscription:{subscription_id}"),
    ids=("subscription_id",),
)
def unsubscribe(req: Req[None, None], subscription_id: str) -> dict[str, Any]:
    """Unsubscribe a confirmed address (a pending one expires by itself after 3 days)."""
    service.unsubscribe(subscription_id)
    return {"deleted": True}


# --- the alert log -----------------------------------------------------------------------------------


@route(bp, "/admin/alerts/log", "GET", auth="admin", query=LIST_QUERY, response=LogPage, tag=TAG)
def alert_log(req: Req[None, ListQuery]) -> dict[str, Any]:
    """Every notification, newest first: rule, subject, occurrence, channel, delivery state, attempts, error."""
    items, token = store.log_page(req.query.limit, req.query.next_token)
    return {"items": [store.log_dict(r) for r in items], "next_token": token}
