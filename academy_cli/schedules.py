"""EventBridge schedule expressions for the local scheduler: ``rate(...)`` and AWS ``cron(...)``.

AWS cron has six fields (minutes hours day-of-month month day-of-week year), uses ``?`` for "no
specific value", numbers days of the week 1-7 from Sunday, and runs in UTC. croniter wants five
fields with Sunday = 0; :func:`to_croniter` converts, and the year field is checked separately.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MAX_YEARS_AHEAD = 5


def _shift_dow(field: str) -> str:
    """AWS day-of-week numbers (1=SUN..7=SAT) → croniter's (0=SUN..6=SAT); names are left alone."""
    parts = []
    for part in field.split(","):
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
        nth = ""
        if "#" in part:
            part, nth = part.split("#", 1)
            nth = "#" + nth
        parts.append(re.sub(r"\d+", lambda m: str(int(m.group()) - 1), part) + step + nth)
    return ",".join(parts)


def to_croniter(aws_fields: str) -> tuple[str, str]:
    """AWS 6-field cron → (5-field croniter expression, year field)."""
    fields = aws_fields.split()
    if len(fields) != 6:
        raise ValueError(f"AWS cron needs 6 fields (min hour dom month dow year), got {aws_fields!r}")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ValueError(f"AWS cron needs '?' in exactly one of day-of-month and day-of-week: {aws_fields!r}")
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else _shift_dow(dow)
    expr = f"{minute} {hour} {dom} {month} {dow}"
    if not croniter.is_valid(expr):
        raise ValueError(f"unsupported cron expression {aws_fields!r} (as croniter: {expr!r})")
    return expr, year


def _year_matches(year_field: str, year: int) -> bool:
    if year_field in ("*", "?"):
        return True
    for part in year_field.split(","):
        base, _, step = part.partition("/")
        lo, _, hi = base.partition("-")
        start = int(lo) if lo != "*" else 1970
        end = int(hi) if hi else (start if not step and lo != "*" else 9999)
        if start <= year <= end and (year - start) % int(step or 1) == 0:
            return True
    return False


def expression_text(expr: Any) -> str:
    """A schedule expression as text (Chalice accepts strings or ``Rate``/``Cron`` objects)."""
    return expr.to_string() if hasattr(expr, "to_string") else str(expr)


def next_fire(expression: str, after: datetime) -> datetime | None:
    """The first firing strictly after ``after`` (UTC), or ``None`` if the expression never fires again."""
    expression = expression.strip()
    if m := _RATE.match(expression):
        n, unit = int(m.group(1)), m.group(2).rstrip("s")
        if n < 1:
            raise ValueError(f"rate must be positive: {expression!r}")
        return after + timedelta(seconds=n * _UNIT_S[unit])
    if m := _CRON.match(expression):
        expr, year_field = to_croniter(m.group(1))
        it = croniter(expr, after.astimezone(UTC))
        limit = after.year + _MAX_YEARS_AHEAD
        while True:
            candidate: datetime = it.get_next(datetime)
            if candidate.year > limit:
                return None
            if _year_matches(year_field, candidate.year):
                return candidate
    raise ValueError(f"unsupported schedule expression {expression!r} (use rate(...) or cron(...))")


@dataclass(frozen=True)
class ScheduledFunction:
    name: str
    expression: str
    handler: Callable[[dict[str, Any], Any], Any]


def scheduled_functions(app: Any) -> list[ScheduledFunction]:
    """Every ``@app.schedule`` (or blueprint schedule) of a Chalice app, with its callable."""
    from chalice.app import ScheduledEventConfig

    return [
        ScheduledFunction(es.name, expression_text(es.schedule_expression), app.handler_map[es.name])
        for es in app.event_sources
        if isinstance(es, ScheduledEventConfig)
    ]


def enabled(functions: list[ScheduledFunction], disabled: frozenset[str] | set[str]) -> list[ScheduledFunction]:
    """``functions`` without the ``disabled`` ones (a disabled EventBridge rule: ``academy up --disable-schedule``).
    An unknown name is a ``ValueError`` (a typo must not look like a stopped scheduler)."""
    unknown = sorted(set(disabled) - {fn.name for fn in functions})
    if unknown:
        raise ValueError(f"no scheduled function named {', '.join(unknown)} (known: {', '.join(fn.name for fn in functions)})")
    return [fn for fn in functions if fn.name not in disabled]


def scheduled_event(
    name: str, region: str, when: datetime | None = None, account: str = "123456789012", rule_arn: str | None = None
) -> dict[str, Any]:
    """The event EventBridge hands a scheduled Lambda (``rule_arn``: the deployed rule's, else one named ``name``)."""
    when = when or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn or f"arn:aws:events:{region}:{account}:rule/{name}"],
        "detail": {},
    }
