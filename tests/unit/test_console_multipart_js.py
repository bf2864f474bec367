"""The console's resumable part uploader's own tests (tests/js/multipart.test.mjs, Node's built-in runner)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_console_multipart_js():
    script = str(ROOT / "tests" / "js" / "multipart.test.mjs")
    proc = subprocess.run(["node", "--test", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    tests, passed = (int(re.search(rf"^# {k} (\d+)$", proc.stdout, re.M).group(1)) for k in ("tests", "pass"))
    assert passed == tests > 0, proc.stdout[-2000:]
