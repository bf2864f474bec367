"""Cold start: importing the app (what every Lambda of ours does first) vs a bare Chalice + boto3 app."""

from __future__ import annotations

import os
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


def _time(code: str) -> float:
    env = {**os.environ, "ACADEMY_STAGE": "bench", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "0"}
    samples = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def run() -> list[dict]:
    _time(OURS)  # warm the bytecode cache so both sides compare imports, not compilation
    bare = _time(BARE)
    ours = _time(OURS)
    worker = _time(WORKER)
    return [
        {
            "name": "cold import: app (API and every function)",
            "value": ours * 1000,
            "unit": "ms",
            "baseline": bare * 1000,
            "ratio": ours / bare,
            "goal": 1.3,
        },
        {
            "name": "cold import: app + every job type's worker code",
            "value": worker * 1000,
            "unit": "ms",
            "baseline": bare * 1000,
            "ratio": worker / bare,
            "goal": None,
        },
    ]
