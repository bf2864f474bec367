"""``academy doctor [--check NAME] [--apply]``: the integrity sweeps (chalicelib/integrity), dry-run by default.

Runs in this process against the stack's AWS (the local stack on ``--port``, or, with ``--aws``, the
AWS account and stage of this shell's environment: ``ACADEMY_STAGE``, ``ACADEMY_BUCKET``, credentials).
Each check walks its table or prefix in bounded pages with a progress bar; every finding becomes an
incident carrying its repair; ``--apply`` carries the repairs out (audited per batch, idempotent).
"""

from __future__ import annotations

import json
from typing import Any

import click
from tqdm import tqdm

from academy_cli.localenv import DEFAULT_PORT


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--check", "checks", multiple=True, help="Run only this check (repeatable; default: all).")
    @click.option("--apply", is_flag=True, help="Carry out the repairs (default: only report and file incidents).")
    @click.option("--budget", type=click.IntRange(1), default=None, help="Rows read per check (default: everything).")
    @click.option("--page", "page_size", default=200, show_default=True, type=click.IntRange(1, 1000), help="Rows per read.")
    @click.option("--port", default=DEFAULT_PORT, show_default=True, help="Port of the running local stack.")
    @click.option("--aws", "use_env", is_flag=True, help="Use this shell's AWS environment, not the local stack.")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object per check.")
    def doctor(
        checks: tuple[str, ...], apply: bool, budget: int | None, page_size: int, port: int, use_env: bool, as_json: bool
    ) -> None:
        """Check every invariant the product relies on; report (and with --apply, repair) what drifted."""
        if not use_env:
            from academy_cli.localenv import StackNotRunning, attach

            try:
                attach(port)
            except StackNotRunning as exc:
                raise click.ClickException(str(exc)) from None
        from chalicelib.integrity import service

        unknown = [c for c in checks if c not in service.CHECKS]
        if unknown:
            raise click.BadParameter(f"unknown check {unknown[0]!r}; one of: {', '.join(service.CHECKS)}", param_hint="--check")
        actor = {"role": "operator", "id": "academy doctor"}
        failed = False
        for name in checks or list(service.CHECKS):
            report = _run(service, name, apply, budget, page_size, actor)
            out: dict[str, Any] = report.as_dict()
            out["dry_run"] = not apply
            if as_json:
                click.echo(json.dumps(out, default=str))
            else:
                click.echo(_line(out))
            failed |= bool(out["found"] and not apply)
        if failed and not as_json:
            click.echo("dry run: nothing changed; re-run with --apply to repair (findings are in the Incident Hub)")


def _run(service: Any, name: str, apply: bool, budget: int | None, page_size: int, actor: dict[str, Any]) -> Any:
    with tqdm(desc=name, unit=" rows", disable=None, leave=False) as bar:

        def on_page(report: Any, scanned: Any) -> None:
            bar.update(scanned.read)
            bar.set_postfix(found=len(report.findings), repaired=report.repaired, refresh=False)

        return service.run_check(name, apply=apply, budget=budget or 10**12, page_size=page_size, on_page=on_page, actor=actor)


def _line(out: dict[str, Any]) -> str:
    verb = f"repaired {out['repaired']}, unchanged {out['unchanged']}, " if not out["dry_run"] else ""
    more = "" if out["complete"] else " (budget reached: more to read)"
    head = f"{out['check']}: read {out['read']}, found {out['found']} ({verb}needs a person {out['manual']}){more}"
    lines = [head]
    for f in out["sample"][:5]:
        repair = json.dumps(f["repair"]) if f["repair"] else "no automatic repair"
        lines.append(f"  - {f['kind']} {f['entity']['type']} {f['entity']['id']}: {repair}")
    return "\n".join(lines)
