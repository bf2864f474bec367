"""`academy up` end to end: a subprocess on free ports, driven over HTTP, stopped with SIGTERM.

The stack runs in its own process with its own environment (stage dev, its own run and data
directories); this process never imports the app against it (pytest's own environment is stage
``test``), so in-process actions go through short ``python -c`` subprocesses that ``attach()``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
ACADEMY = str(BIN / "academy")
SIGNING_KEY = "e2e-signing-key-not-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc, no psutil)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    port: int
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def banner(self, label: str) -> str:
        line = next(x for x in self.lines if x.startswith(label))
        return line.split(":", 1)[1].split()[0]

    def headers(self, label: str = "admin token") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.banner(label)}"}

    def stop(self, timeout: float = 15) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def make_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ACADEMY_", "POWERTOOLS_"))}
    env.update(
        {
            "ACADEMY_RUN_DIR": str(tmp / "run"),
            "ACADEMY_DEV_SIGNING_KEY": SIGNING_KEY,
            "ACADEMY_TMP_DIR": str(tmp),
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start(port: int, data_dir: Path, env: dict[str, str], timeout: float = 60) -> Stack:
    proc = subprocess.Popen(
        [ACADEMY, "up", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = Stack(proc, port, env)
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.lines.append(line.rstrip("\n"))
            if line.strip() == "ready":
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail("academy up did not become ready:\n" + "\n".join(stack.lines[-40:]))
    return stack


def cli(stack: Stack, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ACADEMY, *args], env=stack.env, capture_output=True, text=True, timeout=timeout)


def attached_python(stack: Stack, code: str) -> subprocess.CompletedProcess[str]:
    prelude = f"from academy_cli.localenv import attach\nattach({stack.port})\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], env=stack.env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-stack")


@pytest.fixture(scope="module")
def stack(workdir: Path) -> Iterator[Stack]:
    s = start(free_port(), workdir / "data", make_env(workdir))
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()


def test_health_and_banner(stack: Stack) -> None:
    assert requests.get(f"{stack.url}/health", timeout=5).json() == {"status": "ok"}
    assert stack.banner("API") == stack.url
    aws = stack.banner("AWS (moto)")
    assert aws.startswith("http://127.0.0.1:") and int(aws.rsplit(":", 1)[1]) != stack.port
    state = json.loads((Path(stack.env["ACADEMY_RUN_DIR"]) / f"stack-{stack.port}.json").read_text())
    assert state["pid"] == stack.proc.pid and state["api_url"] == stack.url and state["stage"] == "dev"


def test_students_over_http_with_printed_tokens(stack: Stack) -> None:
    r = requests.post(
        f"{stack.url}/admin/students", json={"customer_id": "cust-demo-1", "name": "Keeper"}, headers=stack.headers(), timeout=10
    )
    assert r.status_code == 201, r.text
    listed = requests.get(f"{stack.url}/admin/students", headers=stack.headers(), timeout=10).json()
    assert r.json()["id"] in [s["id"] for s in listed["items"]]
    mine = requests.get(f"{stack.url}/customer/students", headers=stack.headers("customer token"), timeout=10).json()
    assert [s["name"] for s in mine["items"]] == ["Keeper"]
    assert requests.get(f"{stack.url}/admin/students", timeout=10).status_code == 401


def test_noop_job_runs_through_the_queue_pump(stack: Stack) -> None:
    result = attached_python(
        stack,
        """
        import json, time
        from chalicelib.jobs.dispatch import dispatch
        from chalicelib.jobs import ledger
        job, _ = dispatch("noop", {"hello": "pump"})
        deadline = time.monotonic() + 20
        while ledger.get(job.job_id).state != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.1)
        j = ledger.get(job.job_id)
        print(json.dumps({"state": j.state, "attempts": j.attempts}))
        """,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"state": "succeeded", "attempts": 1}


def test_tick_runs_the_schedules(stack: Stack) -> None:
    r = cli(stack, "tick", "--port", str(stack.port))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nothing is scheduled" in r.stdout or " ran in " in r.stdout


def test_seed_is_repeatable(stack: Stack) -> None:
    first = cli(stack, "seed", "--port", str(stack.port))
    assert first.returncode == 0, first.stdout + first.stderr
    again = cli(stack, "seed", "--port", str(stack.port))
    assert again.returncode == 0 and "0 created" in again.stdout, again.stdout + again.stderr
    names = [
        s["name"]
        for s in requests.get(f"{stack.url}/customer/students", headers=stack.headers("customer token"), timeout=10).json()[
            "items"
        ]
    ]
    assert sorted(names) == ["Ada Lovelace", "Alan Turing", "Keeper"]


def test_busy_port_is_a_clear_error(stack: Stack) -> None:
    r = cli(stack, "up", "--port", str(stack.port), "--ephemeral", timeout=30)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "already in use" in r.stderr, r.stderr


def test_sigterm_stops_everything_and_data_survives_a_restart(stack: Stack, workdir: Path) -> None:
    aws_port = int(stack.banner("AWS (moto)").rsplit(":", 1)[1])
    assert children_of(stack.proc.pid) == []
    started = time.monotonic()
    assert stack.stop() == 0
    assert time.monotonic() - started < 10
    assert not port_open(stack.port) and not port_open(aws_port)
    assert not (Path(stack.env["ACADEMY_RUN_DIR"]) / f"stack-{stack.port}.json").exists()
    assert any(line.startswith("saved ") for line in stack.lines)

    again = start(free_port(), workdir / "data", stack.env)
    try:
        assert any(x.startswith("data:") and "restored" in x for x in again.lines)
        names = {
            s["name"] for s in requests.get(f"{again.url}/admin/students", headers=again.headers(), timeout=10).json()["items"]
        }
        assert {"Keeper", "Ada Lovelace", "Grace Hopper"} <= names
    finally:
        assert again.stop() == 0
