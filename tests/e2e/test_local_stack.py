"""`academy up` end to end: a subprocess on free ports, driven over HTTP, stopped with SIGTERM (or killed).

The stack runs in its own process with its own environment (stage dev, its own run and data
directories); this process never imports the app against it (pytest's own environment is stage
``test``), so in-process actions go through short ``python -c`` subprocesses that ``attach()``.

Under ``make rehearse-test`` every stack is a deploy rehearsal (``stack.rehearsal``): the checks of
what only ``academy up`` has assert the rehearsal's equivalent instead (its banner's stage line and
state, the function processes it started, all gone at stop).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from academy_cli.spawn import SpawnedStack, StackStartError, start_stack

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
ACADEMY = str(BIN / "academy")
SIGNING_KEY = "e2e-signing-key-not-secret-0123456789abcdef"


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


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start(workdir: Path, *extra_args: str) -> SpawnedStack:
    """``academy up`` on a free port, keeping its data in ``workdir / "data"`` between runs."""
    try:
        return start_stack(
            workdir,
            signing_key=SIGNING_KEY,
            ephemeral=False,
            extra_args=("--data-dir", str(workdir / "data"), *extra_args),
            timeout_s=60,
        )
    except StackStartError as exc:
        pytest.fail(str(exc))


def cli(stack: SpawnedStack, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ACADEMY, *args], env=stack.env, capture_output=True, text=True, timeout=timeout)


def attached_python(stack: SpawnedStack, code: str) -> subprocess.CompletedProcess[str]:
    prelude = f"from academy_cli.localenv import attach\nattach({stack.port})\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], env=stack.env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-stack")


@pytest.fixture(scope="module")
def stack(workdir: Path) -> Iterator[SpawnedStack]:
    s = start(workdir)
    yield s
    s.stop()


def test_health_and_banner(stack: SpawnedStack) -> None:
    assert requests.get(f"{stack.url}/health", timeout=5).json() == {"status": "ok"}
    aws = stack.banner("AWS (moto)")
    assert aws.startswith("http://127.0.0.1:") and int(aws.rsplit(":", 1)[1]) != stack.port
    state = json.loads((Path(stack.env["ACADEMY_RUN_DIR"]) / f"stack-{stack.port}.json").read_text())
    assert state["pid"] == stack.proc.pid
    if not stack.rehearsal:
        assert stack.banner("API") == stack.url and state["api_url"] == stack.url and state["stage"] == "dev"
        assert "mode" not in state
        return
    # a rehearsal: the deployed stack's stage (prod unless --stage), both ways in, and its pool
    root = f"http://127.0.0.1:{stack.port}"
    api_line = next(x for x in stack.lines if x.startswith("API:"))
    assert stack.banner("API") == root and f"{stack.url}  (execute-api style)" in api_line, api_line
    aws_line = next(x for x in stack.lines if x.startswith("AWS (moto):"))
    assert f"({state['stack_name']}, stage prod, bucket {state['bucket']})" in aws_line, aws_line
    assert (state["mode"], state["stage"], state["api_url"], state["stage_url"]) == ("rehearse", "prod", root, stack.url)
    assert stack.banner("user pool") == state["outputs"]["UserPoolId"]
    assert requests.get(f"{root}/health", timeout=5).json() == {"status": "ok"}


def test_students_over_http_with_printed_tokens(stack: SpawnedStack) -> None:
    r = requests.post(
        f"{stack.url}/admin/students",
        json={"customer_id": "cust-demo-1", "name": "Keeper"},
        headers=stack.auth("admin"),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    listed = requests.get(f"{stack.url}/admin/students", headers=stack.auth("admin"), timeout=10).json()
    assert r.json()["id"] in [s["id"] for s in listed["items"]]
    mine = requests.get(f"{stack.url}/customer/students", headers=stack.auth("customer"), timeout=10).json()
    assert [s["name"] for s in mine["items"]] == ["Keeper"]
    assert requests.get(f"{stack.url}/admin/students", timeout=10).status_code == 401


def test_noop_job_runs_through_the_queue_pump(stack: SpawnedStack) -> None:
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


def test_tick_runs_the_schedules(stack: SpawnedStack) -> None:
    r = cli(stack, "tick", "--port", str(stack.port))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nothing is scheduled" in r.stdout or " ran in " in r.stdout


def test_seed_is_repeatable(stack: SpawnedStack) -> None:
    first = cli(stack, "seed", "--port", str(stack.port))
    assert first.returncode == 0, first.stdout + first.stderr
    again = cli(stack, "seed", "--port", str(stack.port))
    assert again.returncode == 0 and "0 created" in again.stdout, again.stdout + again.stderr
    names = [
        s["name"]
        for s in requests.get(f"{stack.url}/customer/students", headers=stack.auth("customer"), timeout=10).json()["items"]
    ]
    assert sorted(names) == ["Ada Lovelace", "Alan Turing", "Keeper"]


def test_busy_port_is_a_clear_error(stack: SpawnedStack) -> None:
    r = cli(stack, "up", "--port", str(stack.port), "--ephemeral", timeout=30)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "already in use" in r.stderr, r.stderr


def test_sigterm_stops_everything_and_data_survives_a_restart(stack: SpawnedStack, workdir: Path) -> None:
    aws_port = int(stack.banner("AWS (moto)").rsplit(":", 1)[1])
    kids = children_of(stack.proc.pid)
    if stack.rehearsal:
        # the function processes the earlier tests' requests started (each in its own process), only them
        commands = {pid: cmdline(pid) for pid in kids}
        assert kids and all("rehearse/bootstrap.py" in c for c in commands.values()), commands
    else:  # the queue workers and the scheduler, in their own process (nice +10)
        commands = {pid: cmdline(pid) for pid in kids}
        assert len(kids) == 1 and all("academy_cli.background" in c for c in commands.values()), commands
        lower = min(19, os.getpriority(os.PRIO_PROCESS, stack.proc.pid) + 10)  # nice's ceiling is 19
        assert all(os.getpriority(os.PRIO_PROCESS, pid) == lower for pid in kids)
    started = time.monotonic()
    assert stack.stop() == 0
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5  # killed ones are reaped once their parent is gone
    while (left := [pid for pid in kids if Path(f"/proc/{pid}").exists()]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"processes outlived the stack: { {pid: cmdline(pid) for pid in left} }"
    assert not port_open(stack.port) and not port_open(aws_port)
    assert not (Path(stack.env["ACADEMY_RUN_DIR"]) / f"stack-{stack.port}.json").exists()
    assert any(line.startswith("saved ") for line in stack.lines)

    again = start(workdir)
    try:
        assert any(x.startswith("data:") and "restored" in x for x in again.lines)
        names = {
            s["name"]
            for s in requests.get(f"{again.url}/admin/students", headers=again.auth("admin"), timeout=10).json()["items"]
        }
        assert {"Keeper", "Ada Lovelace", "Grace Hopper"} <= names
    finally:
        assert again.stop() == 0


def stack_s3(stack: SpawnedStack) -> tuple[object, str]:
    """A boto3 S3 client on the stack's emulated AWS, and the media bucket's name (both from the banner)."""
    line = next(x for x in stack.lines if x.startswith("AWS (moto):"))
    bucket = re.search(r"bucket ([^)\s]+)", line)
    assert bucket, line
    client = boto3.client(
        "s3", endpoint_url=stack.banner("AWS (moto)"), region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, bucket.group(1)


def saved_snapshot_holds(data: Path, student_id: str, key: str) -> bool:
    snap = data / "snapshot"
    if not (snap / "meta.json").exists():
        return False
    in_tables = any(student_id in f.read_text() for f in (snap / "dynamodb").glob("*.jsonl"))
    manifest = json.loads((snap / "s3" / "manifest.json").read_text())
    return in_tables and key in [e["key"] for e in manifest]


def test_kill_9_keeps_what_the_autosave_saved(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("autosave")
    first = start(workdir, "--autosave-s", "1")
    try:
        assert any(x.startswith("data:") and "saved every 1s when changed" in x for x in first.lines), first.output()
        r = requests.post(
            f"{first.url}/admin/students",
            json={"customer_id": "cust-demo-1", "name": "Survivor"},
            headers=first.auth("admin"),
            timeout=10,
        )
        assert r.status_code == 201, r.text
        student_id = r.json()["id"]
        s3, bucket = stack_s3(first)
        s3.put_object(Bucket=bucket, Key="autosave/notes.txt", Body=b"kept across kill -9", ContentType="text/plain")

        deadline = time.monotonic() + 20
        while not saved_snapshot_holds(workdir / "data", student_id, "autosave/notes.txt"):
            assert time.monotonic() < deadline, "no autosave within 20 s:\n" + first.output()
            time.sleep(0.2)
        assert any(x.startswith("autosaved ") for x in first.lines), first.output()

        # idle: the pumps' empty long polls and the health of the stack are not changes, so no more saves
        quiet_from = sum(x.startswith("autosaved ") for x in first.lines)
        time.sleep(3.5)
        assert sum(x.startswith("autosaved ") for x in first.lines) - quiet_from <= 1, first.output()
    finally:
        first.proc.kill()  # SIGKILL: no clean stop, no final save
        first.proc.wait(timeout=10)
    assert first.proc.returncode == -9
    assert not any(x.startswith("saved ") for x in first.lines)

    again = start(workdir)
    try:
        assert any(x.startswith("data:") and "restored" in x for x in again.lines), again.output()
        listed = requests.get(f"{again.url}/admin/students", headers=again.auth("admin"), timeout=10).json()["items"]
        assert student_id in [x["id"] for x in listed]
        s3, bucket = stack_s3(again)
        got = s3.get_object(Bucket=bucket, Key="autosave/notes.txt")
        assert (got["Body"].read(), got["ContentType"]) == (b"kept across kill -9", "text/plain")
    finally:
        assert again.stop() == 0
