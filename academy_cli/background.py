"""``python -m academy_cli.background``: the local stack's queue workers and scheduler, in a process of their own.

``academy up`` starts it (:meth:`academy_cli.localstack.LocalStack._start_background`) with the stack's
environment, at a lower CPU priority; not meant to be run by hand.
"""

from __future__ import annotations

import argparse
import sys

from academy_cli.localstack import LocalStack, StackOptions


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m academy_cli.background", description=__doc__)
    p.add_argument("--region", required=True)
    p.add_argument("--no-workers", action="store_true")
    p.add_argument("--no-scheduler", action="store_true")
    p.add_argument("--disable-schedule", action="append", default=[], metavar="NAME")
    args = p.parse_args(argv)
    opts = StackOptions(
        region=args.region,
        workers=not args.no_workers,
        scheduler=not args.no_scheduler,
        disabled_schedules=frozenset(args.disable_schedule),
        out=_out,
    )
    LocalStack(opts).run_background()
    return 0


def _out(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
