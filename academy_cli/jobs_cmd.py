"""``academy jobs list|show|summary|retry|cancel``: operate background jobs through the stack's HTTP API.

The commands call the same admin routes as the console (``/admin/jobs...``), so the rules are the
server's: retry is conditional (a second retry of a queued job is reported, not repeated), bulk retry
previews unless ``--apply`` and then walks the server's cursor page by page with a progress bar.
Every action lands in the audit log under the token's subject.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import click

from academy_cli.client import DEFAULT_URL, ApiClient, ApiError, cli_client

STATES = ["queued", "running", "succeeded", "failed", "cancelled", "stuck"]


def _row(job: dict[str, Any]) -> str:
    err = (job.get("last_error") or {}).get("message") or ""
    state = "stuck" if job.get("stuck") else job["state"]
    return f"{job['job_id']}  {job['type']:<22} {state:<10} {job['attempts']:>3}  {job.get('updated_at') or '':<24}  {err[:60]}"


def _header() -> str:
    return f"{'JOB ID':<26}  {'TYPE':<22} {'STATE':<10} {'TRY':>3}  {'UPDATED':<24}  LAST ERROR"


def register(cli: click.Group) -> None:
    @cli.group()
    @click.option("--url", envvar="ACADEMY_URL", default=DEFAULT_URL, show_default=True, help="The API's base URL.")
    @click.option("--token", envvar="ACADEMY_TOKEN", default=None, help="Admin bearer token (default: a dev token, local stage).")
    @click.pass_context
    def jobs(ctx: click.Context, url: str, token: str | None) -> None:
        """Background jobs: list, inspect, retry, cancel."""
        ctx.obj = cli_client(ctx, url, token, timeout_s=60)

    @jobs.command("list")
    @click.option("--state", type=click.Choice(STATES), help="Default (with no --type): failed, running and queued.")
    @click.option("--type", "job_type", help="Job type.")
    @click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True, help="Page size.")
    @click.option("--all", "all_pages", is_flag=True, help="Follow next_token to the end.")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per job (JSON lines).")
    @click.pass_obj
    def list_cmd(api: ApiClient, state: str | None, job_type: str | None, limit: int, all_pages: bool, as_json: bool) -> None:
        """List jobs, newest first."""
        token = None
        if not as_json:
            click.echo(_header())
        while True:
            page = api.call("GET", "/admin/jobs", query={"state": state, "type": job_type, "limit": limit, "next_token": token})
            for job in page["items"]:
                click.echo(json.dumps(job) if as_json else _row(job))
            token = page["next_token"]
            if not token or not all_pages:
                break
        if token and not as_json:
            click.echo("(more: --all)", err=True)

    @jobs.command("show")
    @click.argument("job_id")
    @click.pass_obj
    def show_cmd(api: ApiClient, job_id: str) -> None:
        """One job in full (payload, attempts, error history) as JSON."""
        click.echo(json.dumps(api.call("GET", f"/admin/jobs/{job_id}"), indent=2))

    @jobs.command("recount")
    @click.option("--apply", is_flag=True, help="Repair the counters' drift (default: only report it).")
    @click.option("--port", default=None, type=int, help="Port of the running local stack (default: the usual one).")
    @click.option("--aws", "use_env", is_flag=True, help="Use this shell's AWS environment, not the local stack.")
    def recount_cmd(apply: bool, port: int | None, use_env: bool) -> None:
        """Recount jobs per state and type from the index; with --apply, repair the counters (audited)."""
        if not use_env:
            from academy_cli.localenv import DEFAULT_PORT, StackNotRunning, attach

            try:
                attach(port or DEFAULT_PORT)
            except StackNotRunning as exc:
                raise click.ClickException(str(exc)) from None
        from chalicelib.jobs import counts

        out = counts.recount(apply=apply, actor={"role": "operator", "id": "academy jobs recount"})
        click.echo(json.dumps(out, indent=2))
        if out["drift"] and not apply:
            click.echo("dry run: nothing changed; re-run with --apply to repair", err=True)

    @jobs.command("summary")
    @click.pass_obj
    def summary_cmd(api: ApiClient) -> None:
        """Counts per state and type, stuck jobs and queue depths, as JSON."""
        click.echo(json.dumps(api.call("GET", "/admin/jobs/summary"), indent=2))

    @jobs.command("retry")
    @click.argument("job_ids", nargs=-1)
    @click.option("--type", "job_type", help="Bulk: jobs of this type.")
    @click.option("--error-contains", help="Bulk: jobs whose last error contains this text (case-insensitive).")
    @click.option("--state", type=click.Choice(["failed", "cancelled"]), default="failed", show_default=True, help="Bulk: from.")
    @click.option("--apply", is_flag=True, help="Bulk: really retry (default: preview).")
    @click.option("--batch", type=click.IntRange(1, 100), default=50, show_default=True, help="Bulk: entries per request.")
    @click.option("--rate", type=click.FloatRange(min=0.1), default=None, help="Bulk: at most this many retries per second.")
    @click.pass_obj
    def retry_cmd(
        api: ApiClient,
        job_ids: tuple[str, ...],
        job_type: str | None,
        error_contains: str | None,
        state: str,
        apply: bool,
        batch: int,
        rate: float | None,
    ) -> None:
        """Retry jobs by id, or in bulk by --type/--error-contains (preview unless --apply)."""
        if job_ids and (job_type or error_contains or apply):
            raise click.UsageError("Give job ids, or bulk filters (--type/--error-contains/--apply), not both.")
        if job_ids:
            _each(api, job_ids, "POST", "/admin/jobs/{}/retry", "queued")
            return
        if apply and not (job_type or error_contains):
            raise click.UsageError("A bulk retry with --apply needs --type and/or --error-contains.")
        filters = {"type": job_type, "error_contains": error_contains, "state": state}
        matched, sample = _preview(api, filters)
        if not apply:
            click.echo(f"{matched} job(s) would be retried.")
            if sample:
                click.echo(_header())
                for job in sample:
                    click.echo(_row(job))
            if matched:
                click.echo("Run again with --apply to retry them.", err=True)
            return
        retried, skipped = _apply(api, filters, batch, rate, matched)
        click.echo(f"Retried {len(retried)} job(s); skipped {len(skipped)}.")
        for s in skipped:
            click.echo(f"  skipped {s['job_id']}: {s['reason']}")

    @jobs.command("cancel")
    @click.argument("job_ids", nargs=-1, required=True)
    @click.pass_obj
    def cancel_cmd(api: ApiClient, job_ids: tuple[str, ...]) -> None:
        """Cancel queued, stuck or failed jobs by id (their messages are skipped)."""
        _each(api, job_ids, "DELETE", "/admin/jobs/{}", "cancelled")


def _each(api: ApiClient, job_ids: tuple[str, ...], method: str, path: str, verb: str) -> None:
    """One call per id; "already done" (409) is reported, not an error; anything else fails the command."""
    failed = 0
    for job_id in job_ids:
        try:
            out = api.call(method, path.format(urllib.parse.quote(job_id, safe="")))
            removed = out.get("dead_letters_removed") or 0
            click.echo(f"{verb} {job_id}" + (" (dead letter removed)" if removed else ""))
        except ApiError as exc:
            if exc.status == 409:
                click.echo(f"unchanged {job_id}: {exc.message}")
            else:
                failed += 1
                click.echo(f"error {job_id}: {exc.message}", err=True)
    if failed:
        raise click.ClickException(f"{failed} of {len(job_ids)} failed")


def _preview(api: ApiClient, filters: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type stubs

    matched, token = 0, None
    sample: list[dict[str, Any]] = []
    with tqdm(desc="previewing", unit=" entries", leave=False) as bar:
        while True:
            page = api.call("POST", "/admin/jobs/retry", {**filters, "apply": False, "next_token": token})
            matched += page["matched"]
            sample += page["sample"][: max(0, 10 - len(sample))]
            bar.update(page["examined"])
            token = page["next_token"]
            if not token:
                return matched, sample


def _apply(
    api: ApiClient, filters: dict[str, Any], batch: int, rate: float | None, expected: int
) -> tuple[list[str], list[dict[str, str]]]:
    from tqdm import tqdm

    retried: list[str] = []
    skipped: list[dict[str, str]] = []
    token = None
    with tqdm(total=expected, desc="retrying", unit=" job") as bar:
        while True:
            started = time.monotonic()
            page = api.call("POST", "/admin/jobs/retry", {**filters, "apply": True, "limit": batch, "next_token": token})
            retried += page["retried"]
            skipped += page["skipped"]
            bar.update(len(page["retried"]) + len(page["skipped"]))
            token = page["next_token"]
            if not token:
                return retried, skipped
            if rate:  # pace the pages: at most `rate` retries per second overall
                api.sleep(max(0.0, len(page["retried"]) / rate - (time.monotonic() - started)))
