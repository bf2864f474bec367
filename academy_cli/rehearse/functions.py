"""Each deployed Lambda function as Lambda runs it: its own processes, started from the package.

An *instance* is one ``python3.12 -I -S`` process (:mod:`.bootstrap`) in its own mount namespace
(``unshare -m``): the unzipped code bind-mounted read-only onto itself, the function's layers at
``/opt`` (read-only), and ``/tmp`` a private tmpfs of ``EphemeralStorage`` size (a full ``/tmp``
fails with ENOSPC, as on Lambda). An instance serves one invocation at a time and is kept warm for
the next; a function scales out to more instances (up to ``max_instances``) under concurrent load.
Past its ``Timeout`` an instance is killed and the invocation fails with Lambda's
``Sandbox.Timedout`` error; above ``MemorySize`` (peak RSS of the process and its largest child) it is
killed with ``Runtime.OutOfMemory``. Cold starts are logged with their init time.

If ``unshare`` is unavailable the instance runs without the namespace and says so at start: the
code directory is then writable, ``/tmp`` shared and layers are not at ``/opt``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from academy_cli.rehearse.stack import FunctionSpec

BOOTSTRAP = Path(__file__).resolve().with_name("bootstrap.py")
UNZIPPED_LIMIT_MB = 250  # Lambda: function code + all its layers, unzipped
INIT_LIMIT_S = 10.0  # Lambda's init phase limit (on-demand)
RESPONSE_LIMIT = 6 * 1024 * 1024  # Lambda: synchronous invocation response payload
log = logging.getLogger("academy.rehearse")


class FunctionError(RuntimeError):
    """An invocation failed as Lambda reports it (``error`` is Lambda's error payload)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('errorType')}: {error.get('errorMessage')}")
        self.error = error


@dataclass
class Stats:
    cold_starts: int = 0
    last_init_ms: float | None = None
    invocations: int = 0
    errors: int = 0
    last_error: str | None = None
    max_memory_mb: float = 0.0
    last_duration_ms: float | None = None


def python312() -> str:
    """The base python3.12 interpreter (not the venv's: with ``-I -S`` it sees no site-packages at all)."""
    return str(getattr(sys, "_base_executable", "") or shutil.which("python3.12") or sys.executable)


OLD_TMP = Path("/var/tmp/academy-rehearse-old-tmp")  # where a function's namespace briefly binds the host's /tmp


def _under_tmp(paths: list[Path | str | None]) -> list[Path]:
    """The directories among ``paths`` that lie under /tmp, outermost only (a kept one holds its descendants)."""
    found = sorted({Path(p).resolve() for p in paths if p is not None and Path(p).resolve().is_relative_to("/tmp")})
    out: list[Path] = []
    for d in found:
        if d != Path("/tmp") and not any(d.is_relative_to(k) for k in out):
            out.append(d)
    return out


def can_unshare() -> bool:
    try:
        return (
            subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True, timeout=10).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


class Instance:
    """One warm process of a function."""

    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self.id = uuid.uuid4().hex[:8]
        self.generation = fn._generation
        spec = fn.spec
        env = {
            "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(fn.code_dir),
            "LAMBDA_RUNTIME_DIR": str(fn.runtime_dir),
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"rehearse/{self.id}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "_REHEARSE_RUNTIME_DIR": str(fn.runtime_dir),
            **fn.aws_env(),
            **spec.environment,
        }
        if fn.hooks:
            env["_REHEARSE_HOOKS"] = os.pathsep.join(str(h) for h in fn.hooks)
        if fn.address_map:
            env["_REHEARSE_ADDRESS_MAP"] = json.dumps(fn.address_map)
        argv = [fn.python, "-I", "-S", str(BOOTSTRAP)]
        if fn.isolated:
            mounts = []
            if fn.opt_dir is not None:  # before /tmp is replaced: the layers may be unpacked under it
                mounts += [f"mount --bind {q(fn.opt_dir)} /opt", "mount -o remount,bind,ro /opt"]
            # What the process must read that lies under /tmp (a checkout under /tmp, as a CI clone may be) is
            # carried into its private /tmp read-only: the old /tmp is bound aside, the tmpfs mounted, each such
            # directory bound back at its own path, and the old /tmp let go, so nothing else of it is visible.
            # (and any file its environment names there, e.g. its IAM spec under the rehearsal's work dir)
            named = [Path(v).parent for v in env.values() if v.startswith("/tmp/") and Path(v).exists()]
            keep = _under_tmp([fn.code_dir, fn.runtime_dir, BOOTSTRAP.parent, *(Path(h).parent for h in fn.hooks or ()), *named])
            if not Path(fn.code_dir).resolve().is_relative_to("/tmp"):
                mounts += [f"mount --bind {q(fn.code_dir)} {q(fn.code_dir)}", f"mount -o remount,bind,ro {q(fn.code_dir)}"]
            if keep:
                OLD_TMP.mkdir(parents=True, exist_ok=True)
                mounts.append(f"mount --bind /tmp {q(OLD_TMP)}")
            mounts.append(f"mount -t tmpfs -o size={spec.ephemeral_mb}m,mode=1777 tmpfs /tmp")
            for d in keep:
                rel = d.relative_to("/tmp")
                mounts += [f"mkdir -p {q(d)}", f"mount --bind {q(OLD_TMP / rel)} {q(d)}", f"mount -o remount,bind,ro {q(d)}"]
            if keep:
                mounts.append(f"umount -l {q(OLD_TMP)}")
            mounts.append(f"cd {q(fn.code_dir)}")  # the code dir as mounted now, not the old /tmp's
            script = " && ".join(mounts) + " && exec " + " ".join(q(a) for a in argv)
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
        r, w = os.pipe()
        env["_REHEARSE_RESULT_FD"] = str(w)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(w,),
            cwd=str(fn.code_dir),
            text=True,
            start_new_session=True,
        )
        os.close(w)
        self._results = os.fdopen(r, "r", buffering=1)
        threading.Thread(target=self._pump_logs, name=f"logs-{spec.name}-{self.id}", daemon=True).start()
        ready = self._read(INIT_LIMIT_S + 5)
        if ready is None or ready.get("type") != "ready":
            self.kill()
            error = (ready or {}).get("error") or {
                "errorType": "Runtime.InitTimeout" if ready is None else "Runtime.ExitError",
                "errorMessage": "init did not finish" if ready is None else "the runtime exited during init",
            }
            raise FunctionError(error)
        self.init_ms = float(ready["init_ms"])
        fn.out(f"{spec.name}: cold start {self.init_ms:.0f} ms init (instance {self.id})")

    def _pump_logs(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.fn.log_line(line.rstrip("\n"))

    def _read(self, timeout_s: float) -> dict[str, Any] | None:
        ready, _, _ = select.select([self._results], [], [], max(0.0, timeout_s))
        if not ready:
            return None
        line = self._results.readline()
        return json.loads(line) if line else {"type": "exit"}

    def invoke(self, event: Any, request_id: str) -> dict[str, Any]:
        spec = self.fn.spec
        deadline_ms = int(time.time() * 1000 + spec.timeout_s * 1000)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": request_id, "event": event, "deadline_ms": deadline_ms, "arn": spec.arn}) + "\n")
        self.proc.stdin.flush()
        answer = self._read(spec.timeout_s)
        if answer is None:
            self.kill()
            return {
                "type": "error",
                "fatal": True,
                "error": {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {spec.timeout_s:.2f} seconds"},
            }
        if answer.get("type") == "exit":
            self.kill()
            return {
                "type": "error",
                "fatal": True,
                "error": {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {self.proc.poll()}",
                },
            }
        if float(answer.get("max_memory_mb", 0)) > spec.memory_mb:
            self.kill()
            return {
                "type": "error",
                "fatal": True,
                "max_memory_mb": answer["max_memory_mb"],
                "error": {
                    "errorType": "Runtime.OutOfMemory",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed "
                    f"(max memory used {answer['max_memory_mb']:.0f} MB > {spec.memory_mb} MB)",
                },
            }
        return answer

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)


def q(value: object) -> str:
    import shlex

    return shlex.quote(str(value))


@dataclass
class Function:
    """A deployed function: its spec, where its code and layers are, and its warm instances."""

    spec: FunctionSpec
    code_dir: Path
    opt_dir: Path | None
    runtime_dir: Path
    credentials: Callable[[], dict[str, str]]
    endpoint: str
    region: str
    python: str
    isolated: bool
    out: Callable[[str], None]
    log_file: Path | None = None
    hooks: list[Path] = field(default_factory=list)
    address_map: dict[str, str] = field(default_factory=dict)
    max_instances: int = 4
    stats: Stats = field(default_factory=Stats)
    unzipped_mb: float = 0.0
    _idle: list[Instance] = field(default_factory=list)
    _all: set[Instance] = field(default_factory=set)
    _busy: int = 0
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _stopped: bool = False
    _generation: int = 0

    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,  # every AWS call goes to the emulator (as DNS would send it to AWS)
            **self.credentials(),
        }

    def log_line(self, line: str) -> None:
        if self.log_file is not None:
            with self.log_file.open("a") as f:
                f.write(line + "\n")

    def check_size(self) -> None:
        """Lambda refuses a function whose code plus layers exceed 250 MiB unzipped."""
        if self.unzipped_mb > UNZIPPED_LIMIT_MB:
            raise FunctionError(
                {
                    "errorType": "InvalidParameterValueException",
                    "errorMessage": "Unzipped size must be smaller than 262144000 bytes "
                    f"({self.spec.name}: {self.unzipped_mb:.1f} MiB)",
                }
            )

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        """Run one invocation; returns the handler's result or raises :class:`FunctionError`."""
        self.check_size()
        request_id = request_id or str(uuid.uuid4())
        instance = self._acquire()
        try:
            answer = instance.invoke(event, request_id)
        except Exception:
            instance.kill()
            raise
        finally:
            self._release(instance)
        st = self.stats
        st.invocations += 1
        st.last_duration_ms = answer.get("duration_ms")
        st.max_memory_mb = max(st.max_memory_mb, float(answer.get("max_memory_mb") or 0))
        self.log_line(
            f"REPORT RequestId: {request_id} Duration: {answer.get('duration_ms')} ms Memory Size: {self.spec.memory_mb} MB "
            f"Max Memory Used: {answer.get('max_memory_mb')} MB"
        )
        if answer["type"] == "result" and answer.get("response_bytes", 0) > RESPONSE_LIMIT:
            answer = {
                "type": "error",
                "error": {
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": f"Response payload size ({answer['response_bytes']} bytes) exceeded maximum allowed "
                    f"payload size ({RESPONSE_LIMIT} bytes).",
                },
            }
        if answer["type"] == "result":
            return answer.get("result")
        st.errors += 1
        st.last_error = f"{answer['error'].get('errorType')}: {answer['error'].get('errorMessage')}"
        self.out(f"{self.spec.name}: {st.last_error}")
        raise FunctionError(answer["error"])

    def _acquire(self) -> Instance:
        with self._lock:
            while True:
                if self._stopped:
                    raise FunctionError({"errorType": "ServiceException", "errorMessage": "the rehearsal is stopping"})
                while self._idle:
                    inst = self._idle.pop()
                    if inst.alive():
                        self._busy += 1
                        return inst
                if self._busy < self.max_instances:
                    self._busy += 1
                    break
                self._lock.wait(1.0)
        try:
            inst = Instance(self)
        except BaseException as exc:
            with self._lock:
                self._busy -= 1
                self._lock.notify()
            if isinstance(exc, FunctionError):
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                self.out(f"{self.spec.name}: init failed: {exc}")
            raise
        with self._lock:
            self._all.add(inst)
        self.stats.cold_starts += 1
        self.stats.last_init_ms = inst.init_ms
        return inst

    def _release(self, inst: Instance) -> None:
        with self._lock:
            self._busy -= 1
            if inst.alive() and not self._stopped and inst.generation == self._generation:
                self._idle.append(inst)
            else:
                inst.kill()
                self._all.discard(inst)
            self._lock.notify()

    def cold_start(self) -> float:
        """Start one more instance now, keep it warm; returns its init time in ms."""
        self.check_size()
        inst = Instance(self)
        with self._lock:
            self._all.add(inst)
            self._idle.append(inst)
        self.stats.cold_starts += 1
        self.stats.last_init_ms = inst.init_ms
        return inst.init_ms

    def recycle(self) -> int:
        """Stop the idle instances (busy ones finish their invocation first, then stop); returns how many."""
        with self._lock:
            idle, self._idle = self._idle, []
            for inst in idle:
                self._all.discard(inst)
            self._generation += 1
        for inst in idle:
            inst.kill()
        return len(idle)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            every, self._idle, self._all = list(self._all), [], set()
        for inst in every:
            inst.kill()
