"""The deploy rehearsal: a warm API call through it vs the same call on ``academy up``, each function's
cold start, and each function's headroom under Lambda's 250 MiB (code + layers, unzipped).

Both stacks run as children on free ports (``--ephemeral``); the call is ``GET /admin/students?limit=5``
with the admin token each prints (a dev token on ``academy up``, a pool ID token on the rehearsal:
verified against the pool's key set, cached after the first call). The rehearsal's path: HTTP →
API Gateway event → the APIHandler's own process (JSON over a pipe) → the emulated DynamoDB → back.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from academy_cli.client import ApiClient
from academy_cli.spawn import start_stack

ROOT = Path(__file__).resolve().parent.parent
CALLS = 60
WARMUP = 10


def _median_ms(base_url: str, path: str, token: str) -> float:
    with ApiClient(base_url, token, timeout_s=30) as api:  # one keep-alive connection, as a browser's
        for _ in range(WARMUP):
            api.send("GET", path).raise_for_status()
        times = []
        for _ in range(CALLS):
            t = time.perf_counter()
            api.send("GET", path).raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run() -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="academy-bench-rehearse-"))
    package = work / "package"
    subprocess.run(
        [str(Path(sys.executable).parent / "academy"), "package", "--out", str(package)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    if not (ROOT / "layers" / "ffmpeg" / "build" / "ffmpeg-layer.zip").is_file():
        subprocess.run([sys.executable, str(ROOT / "layers" / "ffmpeg" / "build.py")], cwd=ROOT, check=True, capture_output=True)
    rows: list[dict] = []
    up = start_stack(work / "up")
    try:
        local_ms = _median_ms(up.url, "/admin/students?limit=5", up.token("admin"))
    finally:
        up.stop()
    rehearsal = start_stack(
        work / "rehearse", extra_args=("--rehearse", "--package", str(package), "--no-scheduler"), timeout_s=300
    )
    try:
        rehearsed_ms = _median_ms(f"{rehearsal.url}/api", "/admin/students?limit=5", rehearsal.token("admin"))
        state = __import__("json").loads((work / "rehearse" / "run" / f"stack-{rehearsal.port}.json").read_text())
        with ApiClient(state["control_url"], timeout_s=300) as control:
            cold = control.call("POST", "/cold-starts")
            report = control.call("GET", "/functions")
    finally:
        rehearsal.stop(timeout=30)
    rows.append(
        {
            "name": "rehearsal: warm GET /admin/students (median) vs academy up",
            "value": rehearsed_ms,
            "unit": "ms",
            "baseline": local_ms,
            "ratio": rehearsed_ms / local_ms,
            "goal": 3,
        }
    )
    for fn in report:
        init = cold.get(fn["logical_id"])
        if isinstance(init, float | int):
            rows.append({"name": f"rehearsal: cold start (init) {fn['logical_id']}", "value": float(init), "unit": "ms"})
        else:
            rows.append({"name": f"rehearsal: cold start {fn['logical_id']} FAILED: {init}", "value": 0.0, "unit": "ms"})
        rows.append(
            {
                "name": f"rehearsal: 250 MiB headroom {fn['logical_id']} ({fn['unzipped_mib']} MiB)",
                "value": fn["headroom_mib"],
                "unit": "MiB",
            }
        )
    return rows
