"""The console's trend charts' own tests (tests/js/charts.test.mjs, Node's built-in runner, in a UTC+05:30 zone)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_console_charts_js():
    script = str(ROOT / "tests" / "js" / "charts.test.mjs")
    env = {**os.environ, "TZ": "Asia/Kolkata"}  # the axis must be in the viewer's zone, not UTC
    proc = subprocess.run(["node", "--test", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    tests, passed = (int(re.search(rf"^# {k} (\d+)$", proc.stdout, re.M).group(1)) for k in ("tests", "pass"))
    assert passed == tests > 0, proc.stdout[-2000:]
