"""Least privilege, checked by every functional test (imported into ``tests/conftest.py``).

- Each test: every AWS call a Lambda function made during it (``tests.iam_calls``) must be allowed by
  that function's packaged role policy, or the test errors naming the call.
- ``ACADEMY_IAM_CALLS_OUT=FILE`` writes every recorded call, per function, as JSON at the end.
- A run of the whole ``tests/functional`` directory (nothing deselected, every test passed or
  skipped, as in ``make test``) must have used every grant of every policy (AWS's own uses aside:
  logs, the event source's polling), or the session fails listing the unused grants.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.iam_calls import LeastPrivilege, unused_grants

FUNCTIONAL = Path(__file__).resolve().parent / "functional"
_state: dict[str, Any] = {"checker": None, "selected": set(), "deselected": False, "ok": set(), "bad": False, "report": []}


def _checker() -> LeastPrivilege:
    if _state["checker"] is None:
        _state["checker"] = LeastPrivilege()
    return _state["checker"]


@pytest.fixture(autouse=True)
def least_privilege(request):
    """Fails the test if a function it ran made a call its role does not allow."""
    if FUNCTIONAL not in Path(str(request.node.path)).parents:
        yield
        return
    checker = _checker()
    before = checker.snapshot()
    yield
    denied = checker.denied_since(before)
    if denied:
        pytest.fail("calls the function's IAM policy (infra/iam.py) does not allow:\n  " + "\n  ".join(denied), pytrace=False)


def _functional(nodeid_path: Path) -> bool:
    return FUNCTIONAL in nodeid_path.parents


def pytest_deselected(items: list[pytest.Item]) -> None:
    if any(_functional(Path(str(i.path))) for i in items):
        _state["deselected"] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    _state["selected"] = {i.nodeid for i in session.items if _functional(Path(str(i.path)))}
    _state["files"] = {Path(str(i.path)).name for i in session.items if _functional(Path(str(i.path)))}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _state["selected"]:
        return
    if report.failed:
        _state["bad"] = True
    elif report.when == "call" or report.skipped:
        _state["ok"].add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    checker = _state["checker"]
    if checker is not None and (out := os.environ.get("ACADEMY_IAM_CALLS_OUT")):  # what each function called, for a look
        calls = {
            fn: sorted(f"{c.action} {c.resource} {dict(c.context) or ''}".strip() for c in cs)
            for fn, cs in checker.snapshot().items()
        }
        Path(out).write_text(json.dumps(calls, indent=1))
    every_file = {p.name for p in FUNCTIONAL.glob("test_*.py")} <= _state.get("files", set())
    complete = every_file and not _state["deselected"] and not _state["bad"] and _state["ok"] == _state["selected"]
    if checker is None or not complete:
        return
    unused = unused_grants(checker.policies, checker.snapshot())
    if unused:
        _state["report"] = unused
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _state["report"]:
        terminalreporter.section("least privilege: grants no functional test used (infra/iam.py)", red=True)
        for line in _state["report"]:
            terminalreporter.write_line(line)
