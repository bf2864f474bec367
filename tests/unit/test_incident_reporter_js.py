"""The browser incident reporter's own tests (tests/js, Node's built-in runner), run from pytest."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_incident_reporter_js():
    proc = subprocess.run(
        ["node", "--test", str(ROOT / "tests" / "js" / "incident-reporter.test.mjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout
    tests, passed = (int(re.search(rf"^# {k} (\d+)$", proc.stdout, re.M).group(1)) for k in ("tests", "pass"))
    assert passed == tests > 0, proc.stdout[-2000:]  # nothing skipped, and the file did run tests
