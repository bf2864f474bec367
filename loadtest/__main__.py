"""``python -m loadtest``: start a local stack on free ports (or use ``--url``), run the load, print the report.

A stack it starts also serves the floor (academy_cli/load_floor.py): the same traffic is then sent to bare routes
making the same AWS calls in the same process, and both are printed with the goals.

Exit status 0 only with zero 5xx, zero lost writes, no unexpected status and no transport error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import tempfile
from pathlib import Path

from academy_cli.spawn import SpawnedStack
from loadtest.runner import Config, Report, run_load


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__)
    p.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default 60)")
    p.add_argument("--url", help="a running local stack (e.g. http://127.0.0.1:8000); default: start one on free ports")
    p.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of unmeasured traffic first (default 5)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the clients' choices")
    p.add_argument("--stack-args", default="", help="extra arguments for the academy up it starts, e.g. '--no-scheduler'")
    p.add_argument("--no-floor", action="store_true", help="skip the floor run (the same traffic against bare routes)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = _args(argv)
    stack: SpawnedStack | None = None
    url = args.url
    floor_url = None
    if url is None:
        from academy_cli.spawn import free_port, start_stack

        workdir = Path(tempfile.mkdtemp(prefix="academy-load-"))
        print(f"starting academy up (ephemeral, {workdir}) …", flush=True)
        floor_port = None if args.no_floor else free_port()
        extra = tuple(shlex.split(args.stack_args)) + (() if floor_port is None else ("--load-floor-port", str(floor_port)))
        stack = start_stack(workdir, extra_args=extra)
        url = stack.url
        floor_url = None if floor_port is None else f"http://127.0.0.1:{floor_port}"
    from academy_cli.stack_tokens import StackTokens

    # the stack's own tokens: dev-signed for academy up, pool ID tokens for a rehearsal
    tokens = stack.tokens if stack is not None else StackTokens.for_url(url)
    try:
        cfg = Config(url=url, clients=args.clients, duration_s=args.duration, seed=args.seed, warmup_s=args.warmup)
        report: Report = asyncio.run(run_load(cfg, tokens, log=lambda line: print(line, flush=True), floor_url=floor_url))
    finally:
        if stack is not None:
            stack.stop()
    print(report.render())
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
