"""The deployed EventBridge schedule rules, invoking their target functions.

Each enabled rule's ``ScheduleExpression`` (``rate(...)``/``cron(...)``, UTC) fires its targets with
the ``Scheduled Event`` EventBridge sends (the rule's ARN in ``resources``); a failed asynchronous
invocation is retried twice (EventBridge → Lambda async invoke). :meth:`Scheduler.fire_all` is
``academy tick``: every rule now.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from academy_cli import schedules
from academy_cli.rehearse.functions import Function, FunctionError
from academy_cli.rehearse.stack import Rule

RETRY_DELAYS_S = (60, 120)


def scheduled_event(rule: Rule, region: str, account: str, when: datetime) -> dict[str, Any]:
    return schedules.scheduled_event(rule.name, region, when, account, rule_arn=rule.arn)


class Scheduler:
    def __init__(
        self,
        rules: list[Rule],
        functions: dict[str, Function],
        region: str,
        account: str,
        stop: threading.Event,
        out: Callable[[str], None],
    ) -> None:
        self.rules = [r for r in rules if r.enabled]
        self.functions = functions
        self.region = region
        self.account = account
        self.stop_event = stop
        self.out = out
        for rule in self.rules:  # refuse an expression we cannot honour at start, not an hour later
            schedules.next_fire(rule.expression, datetime.now(UTC))
        self.thread = threading.Thread(target=self.run, name="eventbridge", daemon=True)

    def start(self) -> None:
        if self.rules:
            self.thread.start()

    def fire(self, rule: Rule, when: datetime | None = None) -> list[dict[str, Any]]:
        """Invoke each target of ``rule`` once; returns one report per target."""
        when = when or datetime.now(UTC)
        reports = []
        for name in rule.functions:
            started = time.monotonic()
            try:
                result = self.functions[name].invoke(scheduled_event(rule, self.region, self.account, when))
                report = {"rule": rule.name, "function": name, "ok": True, "result": result}
            except FunctionError as exc:
                report = {"rule": rule.name, "function": name, "ok": False, "error": str(exc)}
            report["seconds"] = round(time.monotonic() - started, 2)
            self.out(
                f"rule {rule.name} ({rule.expression}) → {name}: "
                f"{'ok' if report['ok'] else report['error']} in {report['seconds']}s"
            )
            reports.append(report)
        return reports

    def fire_all(self) -> list[dict[str, Any]]:
        return [r for rule in self.rules for r in self.fire(rule)]

    def run(self) -> None:
        seq = itertools.count()
        heap: list[tuple[datetime, int, Rule, int]] = []
        now = datetime.now(UTC)
        for rule in self.rules:
            when = schedules.next_fire(rule.expression, now)
            if when is not None:
                heapq.heappush(heap, (when, next(seq), rule, 0))
        while heap and not self.stop_event.is_set():
            when, _, rule, attempt = heap[0]
            wait = (when - datetime.now(UTC)).total_seconds()
            if wait > 0:
                self.stop_event.wait(min(wait, 1.0))
                continue
            heapq.heappop(heap)
            ok = all(r["ok"] for r in self.fire(rule, when))
            if not ok and attempt < len(RETRY_DELAYS_S):
                heapq.heappush(
                    heap, (datetime.now(UTC) + timedelta(seconds=RETRY_DELAYS_S[attempt]), next(seq), rule, attempt + 1)
                )
            if attempt == 0:
                following = schedules.next_fire(rule.expression, max(when, datetime.now(UTC)))
                if following is not None:
                    heapq.heappush(heap, (following, next(seq), rule, 0))
