"""Cold start: importing the app (what every Lambda of ours does first) vs a bare Chalice + boto3 app.

Each side is a fresh interpreter, run alternately, ``RUNS`` times. The goal row compares CPU time
(user + sys of the child): on a machine shared with other work, wall time mostly measures the
neighbours. Wall time is reported next to it.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9

BARE = "import boto3, chalice; app = chalice.Chalice(app_name='bare'); boto3.session.Session()"
OURS = "import app"
# What a job worker additionally imports on its first message (lazy, per job type).
WORKER = "import app; from chalicelib.jobs import registry; [jt.load() for jt in registry.JOB_TYPES.values()]"


def _once(code: str) -> tuple[float, float]:
    """(wall, cpu) seconds of one fresh interpreter running ``code``."""
    env = {**os.environ, "ACADEMY_STAGE": "bench", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "0"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run() -> list[dict]:
    for code in (BARE, OURS, WORKER):
        _once(code)  # warm the bytecode cache so both sides compare imports, not compilation
    samples: dict[str, list[tuple[float, float]]] = {"bare": [], "ours": [], "worker": []}
    for _ in range(RUNS):  # alternate, so a noisy moment hits every side alike
        for name, code in (("bare", BARE), ("ours", OURS), ("worker", WORKER)):
            samples[name].append(_once(code))

    def med(name: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[name]) * 1000

    rows = []
    for name, label, goal in (
        ("ours", "app (API and every function)", 1.3),
        ("worker", "app + every job type's worker code", None),
    ):
        rows.append(
            {
                "name": f"cold import, CPU: {label}",
                "value": med(name, 1),
                "unit": "ms",
                "baseline": med("bare", 1),
                "ratio": med(name, 1) / med("bare", 1),
                "goal": goal,
            }
        )
        rows.append(
            {
                "name": f"cold import, wall: {label}",
                "value": med(name, 0),
                "unit": "ms",
                "baseline": med("bare", 0),
                "ratio": med(name, 0) / med("bare", 0),
                "goal": None,
            }
        )
    return rows
