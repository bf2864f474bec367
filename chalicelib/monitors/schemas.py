"""Monitors: response models of the monitors routes (imported on first use)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.core.schema import Out


class MonitorRunOut(Out):
    id: str = Field(description="The run: its scheduled time and the Lambda invocation (request id).")
    invocation_id: str | None = None
    event_id: str | None = Field(None, description="The EventBridge event; a second delivery of it is a duplicate.")
    scheduled_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    outcome: str = Field(description="ok | failed | running")
    duration_ms: int | None = None
    counts: dict[str, int] = Field(default_factory=dict, description="The numbers the run returned (instances created …).")
    error: str | None = None
    duplicate: bool = Field(False, description="A second delivery of an event another invocation ran (not counted).")
    attempts: int = 1


class MonitorOut(Out):
    name: str
    expression: str = Field(description="The schedule: rate(...) or cron(...), UTC.")
    grace_s: int = Field(description="How late a run may start before it counts as missed.")
    state: str = Field(description="ok | late (an expected run is missing) | failed (the last run failed)")
    next_expected_at: str | None = Field(None, description="The run awaited, or the latest missed one when late.")
    missed_at: str | None = None
    last_outcome: str | None = None
    last_started_at: str | None = None
    last_ended_at: str | None = None
    last_duration_ms: int | None = None
    watching_since: str | None = None
    runs: int = Field(0, description="Runs counted (one per scheduled event; duplicates and retries not counted).")
    ok: int = 0
    failed: int = 0
    duplicates: int = 0
    recent_runs: list[MonitorRunOut] = Field(default_factory=list)


class MonitorList(Out):
    items: list[MonitorOut]
