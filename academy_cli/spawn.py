"""Run ``academy up`` as a child process on free loopback ports (API fuzzing, load runs).

The child gets its own environment (stage dev, its own run directory, a known dev signing key), so
the caller gets tokens the stack accepts from :meth:`SpawnedStack.mint` (a dev token, or a pool ID
token when the stack is a rehearsal; :mod:`academy_cli.stack_tokens`), or uses the ones it printed::

    with spawn_stack(tmp_dir) as stack, ApiClient(stack.url, stack.token("admin")) as api:  # academy_cli.client
        api.call("GET", "/admin/students")
        api.call("GET", "/customer/students", token=stack.mint("customer", "cust-9"))
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from academy_cli.stack_tokens import StackTokens

HOST = "127.0.0.1"
DEFAULT_SIGNING_KEY = "spawned-stack-signing-key-not-secret-0123456789"


class StackStartError(RuntimeError):
    """``academy up`` exited or did not print ``ready`` in time (the message carries its last lines)."""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class SpawnedStack:
    """A running ``academy up`` child: its URL, its printed tokens and its output so far."""

    proc: subprocess.Popen[str]
    port: int
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)
    base_path: str = ""  # "/api" for a rehearsal reached the execute-api way (ACADEMY_REHEARSE_PACKAGE)
    _tokens: StackTokens | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.base_path}"

    def banner(self, label: str) -> str:
        """The first word after ``label:`` in the banner (for example the ``admin token``)."""
        line = next(x for x in self.lines if x.startswith(f"{label}:"))
        return line.split(":", 1)[1].split()[0]

    def token(self, role: str) -> str:
        """The development token the stack printed for ``role`` (admin or customer)."""
        return self.banner(f"{role} token")

    @property
    def rehearsal(self) -> bool:
        """Whether this stack is a deploy rehearsal (``academy up --rehearse``)."""
        return self.base_path != "" or "--rehearse" in self.proc.args  # type: ignore[operator]

    @property
    def tokens(self) -> StackTokens:
        """This stack's token source (from its state file, once it is ready)."""
        if self._tokens is None:
            run_dir = Path(self.env["ACADEMY_RUN_DIR"])
            self._tokens = StackTokens.for_port(self.port, run_dir=run_dir, signing_key=self.env["ACADEMY_DEV_SIGNING_KEY"])
        return self._tokens

    def mint(self, role: str, sub: str) -> str:
        """A token this stack accepts for (role, sub): dev-signed, or a pool ID token for a rehearsal."""
        return self.tokens.mint(role, sub)

    def auth(self, role: str, sub: str | None = None) -> dict[str, str]:
        """The ``Authorization`` header: the printed token for ``role``, or a minted one for ``sub``."""
        return {"Authorization": f"Bearer {self.mint(role, sub) if sub else self.token(role)}"}

    def output(self, last: int = 60) -> str:
        return "\n".join(self.lines[-last:])

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait; kill if it does not stop in ``timeout`` seconds. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def child_env(workdir: Path, signing_key: str = DEFAULT_SIGNING_KEY) -> dict[str, str]:
    """This process's environment without AWS/academy/powertools settings, plus the child's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ACADEMY_", "POWERTOOLS_"))}
    env.update(
        {
            "ACADEMY_RUN_DIR": str(workdir / "run"),
            "ACADEMY_TMP_DIR": str(workdir),
            "ACADEMY_DEV_SIGNING_KEY": signing_key,
            # a spawned stack serves a whole test session's (or a load run's) uploads as a few demo
            # customers: lift the daily upload quotas there (tests/functional/test_upload_quotas.py tests them)
            "ACADEMY_UPLOAD_QUOTA_COUNT": "1000000",
            "ACADEMY_UPLOAD_QUOTA_BYTES": str(1 << 50),
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_stack[S: SpawnedStack](
    workdir: Path,
    *,
    port: int | None = None,
    signing_key: str = DEFAULT_SIGNING_KEY,
    ephemeral: bool = True,
    extra_args: tuple[str, ...] = (),
    timeout_s: float = 90,
    cwd: Path | None = None,
    stack_type: type[S] = SpawnedStack,  # type: ignore[assignment]
) -> S:
    """Start ``academy up`` and return once it printed ``ready``; raise :class:`StackStartError` otherwise.

    ``ephemeral`` passes ``--ephemeral`` (turn it off to pass ``--data-dir`` in ``extra_args``);
    ``stack_type`` is the :class:`SpawnedStack` subclass to return (for callers that add helpers).
    With ``ACADEMY_REHEARSE_PACKAGE=DIR`` in the environment (``make rehearse-test``) every stack is a
    deploy rehearsal of that package, reached under its stage path (``url`` ends in ``/api``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = child_env(workdir, signing_key)
    academy = str(Path(sys.executable).parent / "academy")
    rehearse_package = os.environ.get("ACADEMY_REHEARSE_PACKAGE")
    rehearsing = bool(rehearse_package) and "--rehearse" not in extra_args
    if rehearsing:
        extra_args = ("--rehearse", "--package", str(rehearse_package), *extra_args)
        timeout_s = max(timeout_s, 240)
    proc = subprocess.Popen(
        [academy, "up", "--port", str(port), *(["--ephemeral"] if ephemeral else []), *extra_args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
    )
    stack = stack_type(proc, port, env, base_path="/api" if rehearsing else "")
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.lines.append(line.rstrip("\n"))
            if line.strip() == "ready":
                ready.set()

    threading.Thread(target=read, name=f"academy-up-{port}-output", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            stack.stop(timeout=5)
            raise StackStartError(f"academy up did not become ready on port {port}:\n{stack.output()}")
    return stack


@contextmanager
def spawn_stack(workdir: Path, **kwargs: object) -> Iterator[SpawnedStack]:
    """:func:`start_stack` as a context manager: the child is stopped (SIGTERM, then kill) on exit."""
    stack = start_stack(workdir, **kwargs)  # type: ignore[arg-type]
    try:
        yield stack
    finally:
        stack.stop()
