"""The scheduled integrity sweep (thin): every few hours, each check reads its next bounded page."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

bp = Blueprint(__name__)


@bp.schedule(Rate(6, unit=Rate.HOURS), name="integrity_sweep")
def integrity_sweep(event: Any) -> dict[str, Any]:
    """Report-only: findings become incidents (with their repairs); ``academy doctor --apply`` repairs."""
    from chalicelib.integrity import scheduled

    return scheduled.run()
