"""Alerts: request and response models of the alerts routes (imported on first use)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.core.schema import Out, Strict

KindName = Literal[
    "incident.new",
    "incident.regression",
    "incident.spike",
    "job.first_failure",
    "job.failure_rate",
    "job.stuck",
    "job.waiting",
    "dlq.not_empty",
    "monitor.missed_run",
    "monitor.failed_run",
]
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ID_HELP = "Client-chosen id: the same request again is a no-op (200), other fields for it a 409."


class ScopeIn(Strict):
    area: str | None = Field(None, max_length=200, description="An incident area prefix, e.g. customers.homework.")
    job_type: str | None = Field(None, max_length=100)
    source: str | None = Field(None, max_length=40, description="frontend, backend, monitor, jobs, queues …")


class RuleUpdate(Strict):
    name: str = Field(min_length=1, max_length=120)
    kind: KindName
    scope: ScopeIn | None = Field(None, description="What the rule watches; empty fields match anything.")
    params: dict[str, int | float] = Field(
        default_factory=dict,
        description="incident.spike: count, minutes; job.failure_rate: rate, window_minutes, min_jobs; "
        "job.stuck / job.waiting: minutes. Missing ones take their defaults.",
    )
    channels: list[str] = Field(min_length=1, max_length=10, description="'email' and/or webhook channel ids.")
    digest_minutes: int = Field(60, ge=1, le=7 * 24 * 60, description="At most one digest of suppressed ones per period.")
    enabled: bool = True


class RuleIn(RuleUpdate):
    id: str | None = Field(None, pattern=ID_PATTERN, description=ID_HELP)


class ScopeOut(Out):
    area: str | None = None
    job_type: str | None = None
    source: str | None = None


class RuleOut(Out):
    id: str
    name: str
    kind: str
    scope: ScopeOut
    params: dict[str, float]
    channels: list[str]
    digest_minutes: int
    enabled: bool
    created_at: str | None = None
    updated_at: str | None = None


class Deleted(Out):
    deleted: bool


class ChannelIn(Strict):
    id: str | None = Field(None, pattern=ID_PATTERN, description=ID_HELP)
    name: str = Field(min_length=1, max_length=120)
    kind: Literal["webhook"] = "webhook"
    url: str = Field(
        min_length=8,
        max_length=2048,
        description="Slack-compatible incoming webhook; kept as an SSM SecureString, never returned.",
    )


class ChannelOut(Out):
    id: str
    name: str
    kind: str = Field(description="email (the stack's alerts topic) | webhook")
    hint: str | None = Field(None, description="A webhook's scheme and host only; the URL is a secret.")
    created_at: str | None = None


class ChannelList(Out):
    items: list[ChannelOut]


class SubscriptionIn(Strict):
    # ASCII only (SNS and most mail servers refuse the rest; a lone surrogate cannot even be sent to SNS)
    email: str = Field(
        max_length=254,
        pattern=r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
    )


class SubscriptionOut(Out):
    subscription_id: str | None = Field(None, description="None until the address confirms the mail SNS sent it.")
    email: str | None
    status: str = Field(description="pending | confirmed")


class SubscriptionList(Out):
    items: list[SubscriptionOut]
    topic: str = Field(description="The SNS topic the email channel publishes to.")


class LogOut(Out):
    id: str
    rule_id: str
    rule_name: str | None = None
    subject: str
    occurrence: str = Field(description="The signal's occurrence, or digest#<n> for a digest.")
    channel: str = Field(description="email, a webhook channel id, or * for a suppressed occurrence.")
    state: str = Field(description="queued (being sent or retried) | sent | failed | suppressed (throttled; in a digest)")
    attempts: int
    error: str | None = None
    title: str | None = None
    n: int | None = Field(None, description="The occurrence's number for its (rule, subject).")
    digest_count: int | None = Field(None, description="A digest: how many suppressed occurrences it reports.")
    at: str | None = None
