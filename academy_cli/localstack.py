"""The whole product on one machine, in two processes.

moto's server (in a thread, on loopback) emulates AWS; the infra template is deployed into it through
moto's CloudFormation; the Chalice app serves HTTP (chalice's own local server, no autoreload). The
background work runs in a child process of its own at a lower CPU priority (``nice`` +10; ffmpeg
inherits it), so a video job or a scheduled sweep never holds the API's interpreter lock or takes
its cores first (the load run's tail: README, Performance and reliability): there, one pump thread
per SQS event source hands Lambda-shaped batches to the app's SQS handlers
(:func:`academy_cli.pump.drain_once`: only succeeded records are deleted, so visibility timeouts,
receive counts and dead-letter redrive are SQS's), and a scheduler thread fires every ``@schedule``.
The child is restarted if it dies, and stops when the stack stops (or its parent disappears). With a
data directory, an autosave thread writes a snapshot every ``autosave_s`` seconds when something changed
(:mod:`academy_cli.snapshot`), so a ``kill -9`` loses at most that interval.

The order matters: the environment (endpoint, credentials, stage) is set **before** ``app`` is
imported, because models and clients read it at import.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from academy_cli import localenv, schedules
from academy_cli.pump import drain_once

HOST = "127.0.0.1"
STAGE = "dev"
POLL_WAIT_S = 1  # long-poll wait: short, so a stop is quick
HTTP_BACKLOG = 256  # pending connections the API's listening socket holds (socketserver's default is 5)
AUTOSAVE_S = 30.0  # default interval of the periodic save (0: only the save at a clean stop)
SCHEDULE_RETRY_DELAYS_S = (60, 120)  # EventBridge → Lambda async invocation: two retries on error
BACKGROUND_NICE = 10  # the background process's CPU priority below the API's (and its ffmpeg's)
BACKGROUND_STOP_S = 20  # how long a stop waits for the background process's batches to finish

log = logging.getLogger("academy.up")


class PortInUse(RuntimeError):
    """A port the stack needs is taken."""


class RestoreError(RuntimeError):
    """The saved data could not be loaded into the new stack."""


def check_port_free(port: int, option: str, host: str = HOST) -> None:
    """Raise :class:`PortInUse` with a one-line reason if ``host:port`` cannot be bound (``option`` names the flag)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the servers themselves
        try:
            s.bind((host, port))
        except OSError as exc:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
            raise PortInUse(f"port {port} on {host} {reason}; pick another with --{option}") from None


@dataclass
class StackOptions:
    port: int = localenv.DEFAULT_PORT
    aws_port: int | None = None  # None: a free one
    data_dir: Path | None = None  # None: ephemeral
    workers: bool = True
    scheduler: bool = True
    disabled_schedules: frozenset[str] = frozenset()  # scheduled functions not fired (their rule disabled)
    region: str = "us-east-1"
    autosave_s: float = AUTOSAVE_S  # 0: no periodic save
    out: Callable[[str], None] = print
    load_floor_port: int | None = None  # python -m loadtest: record the AWS calls, serve the floor (academy_cli/load_floor.py)


@dataclass
class LocalStack:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent, from any thread)."""

    opts: StackOptions
    stop_event: threading.Event = field(default_factory=threading.Event)
    state: dict[str, Any] = field(default_factory=dict)
    _moto: Any = None
    _http: Any = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _app: Any = None
    _stopped: bool = False
    _started_state_file: bool = False
    _tracker: Any = None  # snapshot.ChangeTracker, with a data dir
    _floor: Any = None  # the load floor's HTTP server, with load_floor_port
    _background: subprocess.Popen[bytes] | None = None  # queue pumps and the scheduler (academy_cli/background.py)

    # --- start -------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        o = self.opts
        check_port_free(o.port, "port")
        if o.aws_port is not None:
            check_port_free(o.aws_port, "aws-port")
        try:
            endpoint = self._start_moto()
            self._set_environment(endpoint)
            from infra.deploy import deploy, export_env

            outputs = deploy(STAGE, o.region, console_origin=f"http://{HOST}:{o.port}")
            os.environ.update(export_env(outputs))
            bucket = os.environ["ACADEMY_BUCKET"]
            restored = self._restore(bucket)
            if o.data_dir is not None:
                from academy_cli.snapshot import ChangeTracker

                # what is in memory now is what is on disk (restored, or both empty)
                self._tracker = ChangeTracker(o.region, STAGE)
                self._tracker.mark_saved(self._tracker.current())
            self._app = self._import_app()
            if o.load_floor_port is not None:
                from academy_cli import load_floor as floor

                self._floor = floor.start(o.load_floor_port, HOST, o.region, self._spawn)[1]
            self._start_http()
            if o.scheduler:  # refuse an expression we cannot honour, or an unknown --disable-schedule, at start
                for fn in schedules.enabled(schedules.scheduled_functions(self._app), o.disabled_schedules):
                    schedules.next_fire(fn.expression, datetime.now(UTC))
                for name in sorted(o.disabled_schedules):
                    o.out(f"schedule {name} is disabled (--disable-schedule): the monitor watchdog will report it missed")
            if o.workers or o.scheduler:
                self._start_background()
            self.state = {
                "api_url": f"http://{HOST}:{o.port}",
                "aws_endpoint": endpoint,
                "stage": STAGE,
                "region": o.region,
                "bucket": bucket,
                "pid": os.getpid(),
                "data_dir": str(o.data_dir) if o.data_dir else None,
                "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "restored": restored,
            }
            self._wait_healthy()
            localenv.write_state(o.port, self.state)
            self._started_state_file = True
            if self._tracker is not None and o.autosave_s > 0:
                self._spawn("autosave", self._autosave_loop)
            return self.state
        except BaseException:
            self.stop(dump=False)
            raise

    def _start_moto(self) -> str:
        from moto.server import ThreadedMotoServer

        from emulation import serialise_dynamodb

        serialise_dynamodb()  # DynamoDB's atomic conditional writes and transactions under concurrent requests
        if self.opts.data_dir is not None:
            from emulation import install_write_counter

            install_write_counter()  # the autosave's "anything changed?" signal

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the pumps poll every second
        self._moto = ThreadedMotoServer(ip_address=HOST, port=self.opts.aws_port or 0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    def _set_environment(self, endpoint: str) -> None:
        """Chalice's dev-stage environment variables, then ours on top (as ``chalice local`` does)."""
        from chalice.cli.factory import CLIFactory

        from chalicelib.core.settings import PROJECT_ROOT

        self._chalice_config = CLIFactory(project_dir=str(PROJECT_ROOT)).create_config_obj(chalice_stage_name=STAGE)
        env = dict(self._chalice_config.environment_variables)
        env.update(localenv.local_aws_env(endpoint, self.opts.region))
        env.update({"ACADEMY_STAGE": STAGE, "ACADEMY_AUTH_MODE": "dev"})
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
        localenv.apply_env(env)

    def _restore(self, bucket: str) -> dict[str, int] | None:
        if self.opts.data_dir is None:
            return None
        from academy_cli import snapshot

        try:
            return snapshot.restore(self.opts.data_dir, STAGE, bucket, self.opts.region)
        except Exception as exc:
            raise RestoreError(
                f"could not restore the saved data in {self.opts.data_dir}: {type(exc).__name__}: {exc} "
                "(move that directory away, or start with --ephemeral)"
            ) from exc

    @staticmethod
    def _import_app() -> Any:
        from chalice.deploy.validate import validate_routes

        from app import app

        validate_routes(app.routes)  # what `chalice local` checks: routes `chalice deploy` would refuse
        return app

    def _start_http(self) -> None:
        from chalice.local import ThreadedHTTPServer, create_local_server

        # socketserver's listen backlog is 5: a burst of concurrent clients overflows it and connections
        # are dropped or reset. API Gateway has no such queue; give the local server a real one.
        ThreadedHTTPServer.request_queue_size = HTTP_BACKLOG
        try:
            self._http = create_local_server(self._app, self._chalice_config, HOST, self.opts.port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {self.opts.port} on {HOST} is already in use; pick another with --port") from None
            raise
        self._spawn("http", self._http.server.serve_forever)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=f"academy-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def _wait_healthy(self, timeout_s: float = 30.0) -> None:
        url = f"http://{HOST}:{self.opts.port}/health"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s")
            time.sleep(0.1)

    # --- the background process --------------------------------------------------------------

    def _background_args(self) -> list[str]:
        o = self.opts
        return [
            sys.executable,
            "-m",
            "academy_cli.background",
            "--region",
            o.region,
            *([] if o.workers else ["--no-workers"]),
            *([] if o.scheduler else ["--no-scheduler"]),
            *(arg for name in sorted(o.disabled_schedules) for arg in ("--disable-schedule", name)),
        ]

    def _start_background(self) -> None:
        """Start the child (it inherits this environment: the emulator's endpoint, the stack's names)."""
        self._background = subprocess.Popen(self._background_args(), env=dict(os.environ))
        self._spawn("background-watch", self._watch_background)

    def _watch_background(self) -> None:
        """Restart the background process if it dies while the stack runs (like a crashed Lambda runtime)."""
        while not self.stop_event.wait(1.0):
            child = self._background
            if child is None or child.poll() is None:
                continue
            self.opts.out(f"background process (queue workers, scheduler) exited with {child.returncode}; restarting it")
            if not self.stop_event.wait(2.0):
                self._background = subprocess.Popen(self._background_args(), env=dict(os.environ))

    def _stop_background(self) -> None:
        child = self._background
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=BACKGROUND_STOP_S)
        except subprocess.TimeoutExpired:
            log.warning("the background process did not stop in %ss (a long job?); killing it", BACKGROUND_STOP_S)
            child.kill()
            child.wait()

    def run_background(self) -> None:
        """The child's body (``python -m academy_cli.background``): pumps and scheduler until SIGTERM."""
        with contextlib.suppress(OSError):
            os.nice(BACKGROUND_NICE)
        parent = os.getppid()
        signal.signal(signal.SIGTERM, lambda signum, frame: self.stop_event.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
        self._app = self._import_app()
        if self.opts.workers:
            self._start_pumps()
        if self.opts.scheduler:
            self._start_scheduler()
        while not self.stop_event.wait(0.5):
            if os.getppid() != parent:  # the stack was killed: nothing to work for
                self.stop_event.set()
        for t in self._threads:
            t.join(timeout=BACKGROUND_STOP_S - 5)

    # --- queue pumps --------------------------------------------------------------------------

    def _start_pumps(self) -> None:
        from chalice.app import SQSEventConfig

        for es in self._app.event_sources:
            if isinstance(es, SQSEventConfig):
                handler = self._app.handler_map[es.name]
                self._spawn(f"pump-{es.name}", lambda es=es, handler=handler: self._pump(es, handler))

    def _pump(self, es: Any, handler: Callable[[dict[str, Any], Any], Any]) -> None:
        """Long-poll one queue until stopped, invoking the handler like an event source mapping."""
        import boto3

        from chalicelib.jobs.queues import QUEUES

        timeout_s = next((q.function_timeout for q in QUEUES.values() if es.queue in (q.name, q.dlq_name)), 60)
        sqs = boto3.session.Session().client("sqs", region_name=self.opts.region)
        url = arn = None
        while not self.stop_event.is_set():
            try:
                if url is None:
                    url = sqs.get_queue_url(QueueName=es.queue)["QueueUrl"]
                    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                drain_once(
                    sqs,
                    url,
                    arn,
                    handler,
                    batch_size=es.batch_size,
                    wait_s=POLL_WAIT_S,
                    timeout_s=timeout_s,
                    function_name=es.name,
                    region=self.opts.region,
                )
            except Exception:  # noqa: BLE001 - a pump must outlive a bad poll (the emulator is in-process)
                if self.stop_event.is_set():
                    return
                log.warning("queue pump %s: %s", es.name, traceback.format_exc(limit=3))
                self.stop_event.wait(1.0)

    # --- scheduler ----------------------------------------------------------------------------

    def _start_scheduler(self) -> None:
        functions = schedules.enabled(schedules.scheduled_functions(self._app), self.opts.disabled_schedules)
        if not functions:
            return
        self._spawn("scheduler", lambda: self._schedule_loop(functions))

    def _schedule_loop(self, functions: list[schedules.ScheduledFunction]) -> None:
        """Fire each function at its times (UTC); a failed run is retried twice, like an async invoke."""
        seq = itertools.count()
        heap: list[tuple[datetime, int, schedules.ScheduledFunction, int]] = []
        now = datetime.now(UTC)
        for fn in functions:
            when = schedules.next_fire(fn.expression, now)
            if when is not None:
                heapq.heappush(heap, (when, next(seq), fn, 0))
        while heap and not self.stop_event.is_set():
            when, _, fn, attempt = heap[0]
            wait = (when - datetime.now(UTC)).total_seconds()
            if wait > 0:
                self.stop_event.wait(min(wait, 1.0))
                continue
            heapq.heappop(heap)
            ok = invoke_scheduled(fn, self.opts.region, when, self.opts.out)
            if not ok and attempt < len(SCHEDULE_RETRY_DELAYS_S):
                retry_at = datetime.now(UTC) + timedelta(seconds=SCHEDULE_RETRY_DELAYS_S[attempt])
                heapq.heappush(heap, (retry_at, next(seq), fn, attempt + 1))
            if attempt == 0:
                following = schedules.next_fire(fn.expression, max(when, datetime.now(UTC)))
                if following is not None:
                    heapq.heappush(heap, (following, next(seq), fn, 0))

    # --- autosave -----------------------------------------------------------------------------

    def _autosave_loop(self) -> None:
        while not self.stop_event.wait(self.opts.autosave_s):
            self.autosave_once()

    def autosave_once(self) -> dict[str, int] | None:
        """Save a snapshot if anything changed since the last save; one output line when it saves or fails."""
        from academy_cli import snapshot

        if self._tracker is None or self.opts.data_dir is None or not self.state:
            return None
        token = self._tracker.current()  # before the dump: a write during it shows up next time
        if not self._tracker.changed(token):
            return None
        started = time.monotonic()
        try:
            counts = snapshot.dump(self.opts.data_dir, STAGE, self.state["bucket"], self.opts.region)
        except Exception as exc:
            self.opts.out(f"autosave failed: {type(exc).__name__}: {exc} (the previous save is intact)")
            log.debug("autosave failure", exc_info=True)
            return None
        self._tracker.mark_saved(token)
        self.opts.out(
            f"autosaved {counts['items']} items, {counts['objects']} objects ({counts['objects_copied']} copied, "
            f"{counts['bytes_copied']} bytes), {counts['messages']} messages in {time.monotonic() - started:.2f}s"
        )
        return counts

    # --- stop ---------------------------------------------------------------------------------

    def stop(self, dump: bool = True) -> dict[str, int] | None:
        """Stop threads and servers, dump data (if a data dir is set), remove the state file."""
        if self._stopped:
            return None
        self._stopped = True
        self.stop_event.set()
        counts = None
        if self._http is not None:
            self._http.server.shutdown()
            self._http.server.server_close()
        if self._floor is not None:
            self._floor.shutdown()
            self._floor.server_close()
        self._stop_background()
        for t in self._threads:
            t.join(timeout=15)
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            log.warning("still busy at stop (a long job?): %s", ", ".join(stuck))
        if self._started_state_file:
            localenv.remove_state(self.opts.port, os.getpid())
        if dump and self.opts.data_dir is not None and self.state:
            from academy_cli import snapshot

            counts = snapshot.dump(self.opts.data_dir, STAGE, self.state["bucket"], self.opts.region)
        if self._moto is not None:
            with contextlib.suppress(Exception):
                self._moto.stop()
        return counts


def invoke_scheduled(fn: schedules.ScheduledFunction, region: str, when: datetime | None, out: Callable[[str], None]) -> bool:
    """Invoke one scheduled function with an EventBridge-shaped event; report and return success."""
    from academy_cli.pump import FakeLambdaContext

    started = time.monotonic()
    try:
        result = fn.handler(schedules.scheduled_event(fn.name, region, when), FakeLambdaContext(fn.name, timeout_s=900))
    except Exception as exc:  # reported; the scheduler retries like EventBridge
        out(f"schedule {fn.name} ({fn.expression}) failed: {type(exc).__name__}: {exc}")
        log.debug("schedule failure", exc_info=True)
        return False
    summary = f" → {result}" if result is not None else ""
    out(f"schedule {fn.name} ({fn.expression}) ran in {time.monotonic() - started:.2f}s{summary}")
    return True
