"""The monitors' watchdog: its own scheduled function, on its own blueprint.

Deployed as its own Lambda (``MonitorWatchdog``) with its own EventBridge rule and IAM role, it shares
nothing with the functions it watches but the ``monitor-runs`` table they write: if their rule is
disabled, their function cannot start or EventBridge stops delivering, no run is written, and the
watchdog sees the gap. (Its own failures are the alarms' business: infra/alarms.py.)
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate

bp = Blueprint(__name__)


@bp.schedule(Rate(5, unit=Rate.MINUTES), name="monitor_watchdog")
def monitor_watchdog(event: Any) -> dict[str, Any]:
    """Every 5 minutes: a missed or failed run of any scheduled function opens an incident (once)."""
    from chalicelib.monitors import service

    return service.watchdog()
