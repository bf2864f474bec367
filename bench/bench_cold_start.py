"""Cold start: importing the app (what every Lambda of ours does first) vs a bare Chalice + boto3 app.

The goal row counts CPU instructions (valgrind's callgrind, one fresh interpreter per side with a
fixed hash seed): the same count to within 0.1 % run after run, whatever else the machine runs. CPU
time (user + sys of the child) moves ±15 % here even as medians of alternating runs, so it is shown
with its spread (lowest and highest ratio of the paired runs); wall time mostly measures the
neighbours. Without valgrind the CPU row carries the goal.

Per function, the first call on each client it uses (client creation and one request answered
locally, see ``bench/_first_calls.py``): what a cold Lambda pays before its first real AWS call returns.

Also from the real deployment package (``academy package``, unzipped, read-only as on Lambda:
``PYTHONDONTWRITEBYTECODE``): importing the app with the bytecode the package ships vs the same
package stripped of it — what every cold start paid before the package carried bytecode.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9

BARE = "import boto3, chalice; app = chalice.Chalice(app_name='bare'); boto3.session.Session()"
OURS = "import app"
# What a job worker additionally imports on its first message (lazy, per job type).
WORKER = "import app; from chalicelib.jobs import registry; [jt.load() for jt in registry.known().values()]"


def _once(code: str) -> tuple[float, float]:
    """(wall, cpu) seconds of one fresh interpreter running ``code``."""
    # Bytecode is written and used on both sides, as in the deployment package (academy package ships
    # it). PYTHONDONTWRITEBYTECODE set to anything, even "0", stops Python writing it.
    env = _env()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"ACADEMY_STAGE": "bench", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONHASHSEED": "0"})
    return env


def _instructions(code: str) -> int | None:
    """Instructions one fresh interpreter runs for ``code`` (callgrind's ``I refs``); None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    out = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    found = re.search(r"refs:\s+([\d,]+)", out.stderr)
    return int(found.group(1).replace(",", "")) if found else None


def _first_call_rows() -> list[dict]:
    """Per function: the CPU its first call on each client costs (bench/_first_calls.py, 3 fresh runs, medians)."""
    import json

    from bench._common import APP_ENV, AWS_ENV
    from infra.iam import ACCESS

    env = {**_env(), **AWS_ENV, **APP_ENV}
    env.pop("AWS_ENDPOINT_URL", None)
    rows = []
    for function in ACCESS:
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, "-m", "bench._first_calls", function],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(3)
        ]
        med = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in runs[0]}
        parts = [f"{int(med['tables'])} tables {med['dynamodb_first_table']:.0f}+{med['dynamodb_other_tables']:.0f}"]
        parts += [f"{k} {med[k]:.0f}" for k in ("sqs", "s3") if k in med]
        total = med["dynamodb_first_table"] + med["dynamodb_other_tables"] + med.get("sqs", 0.0) + med.get("s3", 0.0)
        detail = f"{', '.join(parts)} ms"  # in results.json; the table has no room for it
        rows.append({"name": f"first call on each client, CPU: {function}", "value": total, "unit": "ms", "detail": detail})
    return rows


def _cpu_in(directory: Path, code: str, env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], cwd=directory, env={**env, "PYTHONPATH": str(directory)}, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _package_rows() -> list[dict]:
    from academy_cli.package_cmd import package

    work = Path(tempfile.mkdtemp(prefix="academy-bench-pkg-"))
    try:
        package(work / "out", "prod")
        shipped, stripped = work / "shipped", work / "stripped"
        for d in (shipped, stripped):
            with zipfile.ZipFile(work / "out" / "deployment.zip") as z:
                z.extractall(d)
        for pyc in stripped.rglob("*.pyc"):
            pyc.unlink()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ACADEMY_", "AWS_"))}
        env.update({"ACADEMY_STAGE": "prod", "ACADEMY_AUTH_MODE": "cognito", "AWS_DEFAULT_REGION": "us-east-1"})
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # Lambda's code directory is read-only
        with_pyc: list[float] = []
        without: list[float] = []
        _cpu_in(shipped, OURS, env), _cpu_in(stripped, OURS, env)
        for _ in range(RUNS):
            with_pyc.append(_cpu_in(shipped, OURS, env))
            without.append(_cpu_in(stripped, OURS, env))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shipped_ms, stripped_ms = statistics.median(with_pyc) * 1000, statistics.median(without) * 1000
    return [
        {
            "name": "cold import from the deployment package, CPU: with its bytecode vs without",
            "value": shipped_ms,
            "unit": "ms",
            "baseline": stripped_ms,
            "ratio": shipped_ms / stripped_ms,
            "goal": None,
        }
    ]


def run() -> list[dict]:
    for code in (BARE, OURS, WORKER):
        _once(code)  # warm the bytecode cache so both sides compare imports, not compilation
    samples: dict[str, list[tuple[float, float]]] = {"bare": [], "ours": [], "worker": []}
    for _ in range(RUNS):  # alternate, so a noisy moment hits every side alike
        for name, code in (("bare", BARE), ("ours", OURS), ("worker", WORKER)):
            samples[name].append(_once(code))

    def med(name: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[name]) * 1000

    def spread(name: str) -> tuple[float, float]:
        paired = [o[1] / b[1] for o, b in zip(samples[name], samples["bare"], strict=True)]
        return min(paired), max(paired)

    ours_i, bare_i = _instructions(OURS), _instructions(BARE)
    rows: list[dict] = []
    if ours_i and bare_i:
        rows.append(
            {
                "name": "cold import, instructions: app (API and every function)",
                "value": ours_i / 1e6,
                "unit": "M",
                "baseline": bare_i / 1e6,
                "ratio": ours_i / bare_i,
                "goal": 1.3,
            }
        )
    for name, label, goal in (
        ("ours", "app (API and every function)", None if rows else 1.3),
        ("worker", "app + every job type's worker code", None),
    ):
        low, high = spread(name)
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
                "name": f"  CPU ratio, lowest and highest of {RUNS} pairs: {name}",
                "value": round(low, 2),
                "unit": "x",
                "baseline": round(high, 2),
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
    return rows + _first_call_rows() + _package_rows()
