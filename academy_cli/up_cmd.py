"""``academy up`` (the whole stack on this machine) and ``academy tick`` (fire the schedules now)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from academy_cli.localenv import DEFAULT_PORT

DEV_ADMIN = "admin-local"
DEV_CUSTOMER = "cust-demo-1"  # `academy seed` gives this customer students


def _aws_port(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        port = int(value)
    except ValueError:
        raise click.BadParameter("a port number or 'auto'") from None
    if not 1 <= port <= 65535:
        raise click.BadParameter("a port number (1..65535) or 'auto'")
    return port


def _default_data_dir() -> Path:
    from chalicelib.core.settings import PROJECT_ROOT

    return PROJECT_ROOT / ".academy" / "data"


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535), help="API port.")
    @click.option("--aws-port", default="auto", show_default=True, help="Port of the emulated AWS endpoint ('auto': a free one).")
    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where data is kept between runs (default: .academy/data in the project).",
    )
    @click.option("--ephemeral", is_flag=True, help="Start empty and keep nothing at stop.")
    @click.option(
        "--autosave-s",
        default=None,
        type=click.FloatRange(min=0),
        help="Also save the data every this many seconds when it changed (default 30; 0: only at a clean stop).",
    )
    @click.option("--no-workers", is_flag=True, help="Do not run the queue pumps (messages stay queued).")
    @click.option("--no-scheduler", is_flag=True, help="Do not fire scheduled functions (use `academy tick`).")
    @click.option(
        "--disable-schedule",
        "disabled_schedules",
        multiple=True,
        metavar="NAME",
        help="Do not fire this scheduled function (as if its EventBridge rule were disabled); repeatable.",
    )
    @click.option("--rehearse", is_flag=True, help="Run the packaged artifact as AWS would (see README: Rehearse a deploy).")
    @click.option(
        "--package",
        "package_dir",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=None,
        help="With --rehearse: an existing `academy package --out DIR` (default: package now).",
    )
    @click.option("--stage", default="prod", show_default=True, help="With --rehearse: the stack's Stage parameter.")
    @click.option("--no-iam", is_flag=True, help="With --rehearse: do not enforce each function's IAM role policies.")
    @click.option(
        "--load-floor-port",
        type=click.IntRange(1, 65535),
        default=None,
        hidden=True,  # python -m loadtest's floor (academy_cli/load_floor.py); not for operators
    )
    def up(
        port: int,
        aws_port: str,
        data_dir: Path | None,
        ephemeral: bool,
        autosave_s: float | None,
        no_workers: bool,
        no_scheduler: bool,
        disabled_schedules: tuple[str, ...],
        rehearse: bool,
        package_dir: Path | None,
        stage: str,
        no_iam: bool,
        load_floor_port: int | None,
    ) -> None:
        """Run the whole stack locally: emulated AWS, the API, queue workers and the scheduler."""
        from academy_cli.localstack import LocalStack, PortInUse, RestoreError, StackOptions

        if ephemeral and data_dir is not None:
            raise click.UsageError("--ephemeral and --data-dir exclude each other")
        if disabled_schedules and rehearse:
            raise click.UsageError("--disable-schedule is for the local stack (a rehearsal runs the rules as deployed)")
        if rehearse:
            data = None if ephemeral else (data_dir or _default_data_dir().with_name("data-rehearse")).resolve()
            _rehearse(
                port, _aws_port(aws_port), package_dir, data, stage, not no_workers, not no_scheduler, not no_iam, autosave_s
            )
            return
        if package_dir is not None:
            raise click.UsageError("--package needs --rehearse")
        data = None if ephemeral else (data_dir or _default_data_dir()).resolve()
        out = lambda line: click.echo(line)  # noqa: E731 - flushes, so a parent process sees lines at once
        stack = LocalStack(
            StackOptions(
                port=port,
                aws_port=_aws_port(aws_port),
                data_dir=data,
                **({"autosave_s": autosave_s} if autosave_s is not None else {}),  # else StackOptions' default
                workers=not no_workers,
                scheduler=not no_scheduler,
                disabled_schedules=frozenset(disabled_schedules),
                out=out,
                load_floor_port=load_floor_port,
            )
        )

        def on_signal(signum: int, frame: Any) -> None:
            stack.stop_event.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            state = stack.start()
        except (PortInUse, RestoreError, ValueError) as exc:  # ValueError: an unknown --disable-schedule name
            raise click.ClickException(str(exc)) from None
        _banner(state, stack, data)
        while not stack.stop_event.wait(0.5):
            pass
        out("stopping…")
        counts = stack.stop()
        if counts is not None:
            out(f"saved {counts['items']} items, {counts['objects']} objects, {counts['messages']} messages to {data}")
        out("stopped")
        # Everything we started is stopped and saved; skip the interpreter's slow teardown of the
        # emulator's modules (seconds of finalisation for nothing).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    @cli.command()
    @click.option("--port", default=DEFAULT_PORT, show_default=True, help="Port of the running local stack.")
    def tick(port: int) -> None:
        """Run every scheduled function now, against the running local stack."""
        from academy_cli.localenv import StackNotRunning, attach, read_state

        try:
            if read_state(port).get("mode") == "rehearse":
                return _tick_rehearsal(read_state(port))
            state = attach(port)
        except StackNotRunning as exc:
            raise click.ClickException(str(exc)) from None
        from academy_cli import schedules
        from academy_cli.localstack import invoke_scheduled
        from app import app

        functions = schedules.scheduled_functions(app)
        if not functions:
            click.echo("nothing is scheduled (the app has no @schedule functions)")
            return
        results = [invoke_scheduled(fn, state["region"], None, click.echo) for fn in functions]
        if not all(results):
            raise click.ClickException(f"{results.count(False)} of {len(results)} scheduled functions failed")


def _rehearse(
    port: int,
    aws_port: int | None,
    package_dir: Path | None,
    data: Path | None,
    stage: str,
    workers: bool,
    scheduler: bool,
    iam: bool,
    autosave_s: float | None,
) -> None:
    """``academy up --rehearse``: start, print the banner and each function, wait for a signal, stop."""
    from academy_cli.localstack import PortInUse
    from academy_cli.rehearse.run import Rehearsal, RehearsalOptions

    out = lambda line: click.echo(line)  # noqa: E731
    rehearsal = Rehearsal(
        RehearsalOptions(
            port=port,
            aws_port=aws_port,
            package_dir=package_dir.resolve() if package_dir else None,
            data_dir=data,
            stage=stage,
            workers=workers,
            scheduler=scheduler,
            iam=iam,
            **({"autosave_s": autosave_s} if autosave_s is not None else {}),
            hooks=[Path(p) for p in os.environ.get("ACADEMY_REHEARSE_HOOKS", "").split(os.pathsep) if p],
            out=out,
        )
    )

    def on_signal(signum: int, frame: Any) -> None:
        rehearsal.stop_event.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        state = rehearsal.start()
    except PortInUse as exc:
        raise click.ClickException(str(exc)) from None
    for line in (
        f"API:            {state['api_url']}  (custom-domain style, root) and {state['stage_url']}  (execute-api style)",
        f"AWS (moto):     {state['aws_endpoint']}  ({state['stack_name']}, stage {state['stage']}, bucket {state['bucket']})",
        f"user pool:      {state['outputs'].get('UserPoolId')} (client {state['outputs'].get('UserPoolClientId')})",
        f"data:           {_persistence(state, data, rehearsal.opts.autosave_s)}",
        f"logs:           {rehearsal.work / 'logs'}",
        f"admin token:    {rehearsal.sign_in('admin', DEV_ADMIN)}  (an ID token of the pool)",
        f"customer token: {rehearsal.sign_in('customer', DEV_CUSTOMER)}  (customer {DEV_CUSTOMER})",
        "ready",
    ):
        out(line)
    while not rehearsal.stop_event.wait(0.5):
        pass
    out("stopping…")
    for fn in rehearsal.report():
        init = f"{fn['last_init_ms']:.0f} ms" if fn["last_init_ms"] is not None else "never started"
        out(
            f"  {fn['logical_id']}: cold starts {fn['cold_starts']} (last init {init}), {fn['invocations']} invocations, "
            f"last error: {fn['last_error'] or 'none'}"
        )
    counts = rehearsal.stop()
    if counts is not None:
        out(f"saved {counts['items']} items, {counts['objects']} objects, {counts['messages']} messages to {data}")
    out("stopped")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _persistence(state: dict[str, Any], data: Path | None, autosave_s: float) -> str:
    """The banner's ``data:`` line, worded as ``academy up``'s."""
    if data is None:
        return "ephemeral: data is lost at stop (--ephemeral)"
    restored = state.get("restored")
    if restored:
        text = f"{data} (restored {restored['items']} items, {restored['objects']} objects, {restored['messages']} messages)"
    else:
        text = f"{data} (empty)"
    every = f"every {autosave_s:g}s when changed and " if autosave_s > 0 else ""
    return f"{text}; saved {every}at a clean stop"


def _tick_rehearsal(state: dict[str, Any]) -> None:
    """Fire every deployed schedule rule of a running rehearsal now (through its control endpoint)."""
    from academy_cli.client import ApiClient, ApiError, Unreachable

    try:
        with ApiClient(state["control_url"], timeout_s=900) as control:
            results = control.call("POST", "/tick")["results"]
    except (Unreachable, ApiError) as exc:
        raise click.ClickException(
            f"the rehearsal's control endpoint {state['control_url']} did not answer: {exc.message}"
        ) from None
    if not results:
        click.echo("nothing is scheduled (the stack has no schedule rules)")
        return
    for r in results:
        click.echo(f"rule {r['rule']} → {r['function']} " + (f"ran in {r['seconds']}s" if r["ok"] else f"failed: {r['error']}"))
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} scheduled invocations failed")


def _banner(state: dict[str, Any], stack: Any, data: Path | None) -> None:
    from academy_cli import schedules
    from chalicelib.core.auth import mint_dev_token

    restored = state.get("restored")
    if data is None:
        persistence = "ephemeral: data is lost at stop (--ephemeral)"
    elif restored:
        persistence = (
            f"{data} (restored {restored['items']} items, {restored['objects']} objects, {restored['messages']} messages)"
        )
    else:
        persistence = f"{data} (empty)"
    opts = stack.opts
    if data is not None:
        every = f"every {opts.autosave_s:g}s when changed and " if opts.autosave_s > 0 else ""
        persistence += f"; saved {every}at a clean stop"
    functions = schedules.scheduled_functions(stack._app)
    sched = (
        ", ".join(f"{f.name} {f.expression}{' (disabled)' if f.name in opts.disabled_schedules else ''}" for f in functions)
        or "none"
    )
    lines = [
        f"API:            {state['api_url']}",
        f"AWS (moto):     {state['aws_endpoint']}  (stage {state['stage']}, bucket {state['bucket']})",
        f"data:           {persistence}",
        f"workers:        {'on' if opts.workers else 'off (--no-workers)'}",
        f"scheduler:      {'off (--no-scheduler)' if not opts.scheduler else sched}",
        f"admin token:    {mint_dev_token('admin', DEV_ADMIN)}",
        f"customer token: {mint_dev_token('customer', DEV_CUSTOMER)}  (customer {DEV_CUSTOMER})",
        "ready",
    ]
    for line in lines:
        click.echo(line)
