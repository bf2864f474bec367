"""``academy tasks prune-future|backfill|migrate-shards``: repair recurring tasks through the stack's HTTP API.

All are dry runs unless ``--apply``. The server does the work in bounded batches and hands back a
cursor; the command walks the cursor with a progress bar, so a large repair is many short requests
(each one audited under the token's subject) and can be stopped and re-run safely: both operations
are idempotent.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import click
from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type stubs

from academy_cli.client import DEFAULT_URL, ApiClient, ApiError, cli_client

BUSY_RETRIES = 20  # times a batch waits out the hourly scheduler's instance-writer lease


def _post_batch(api: ApiClient, path: str, body: dict[str, Any]) -> Any:
    """One batch; while the scheduler holds the instance-writer lease (409 instance_writer_busy),
    wait as long as the server says and send the same batch again (it is idempotent)."""

    def told(exc: ApiError, wait_s: int) -> None:
        holder = exc.details.get("holder") or "another run"
        click.echo(f"{holder} is writing task instances; retrying in {wait_s} s", err=True)

    return api.call_waiting("POST", path, body, codes={"instance_writer_busy"}, attempts=BUSY_RETRIES, on_wait=told)


def _walk(api: ApiClient, path: str, body: dict[str, Any], unit: str, count_key: str) -> dict[str, Any]:
    """POST batch after batch until the server's cursor runs out; sum the counts."""
    totals: dict[str, Any] = {}
    sample: list[dict[str, Any]] = []
    cursor: str | None = None
    with tqdm(desc=path.rsplit("/", 1)[-1], unit=f" {unit}", disable=None, leave=False) as bar:
        while True:
            page = _post_batch(api, path, {**body, "cursor": cursor})
            for k, v in page.items():
                if isinstance(v, int) and not isinstance(v, bool):
                    totals[k] = totals.get(k, 0) + v
            sample = (sample + page.get("sample", []))[:20]
            bar.update(page.get(count_key, 0))
            bar.set_postfix(matched=totals.get("matched", 0), refresh=False)
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return {"dry_run": not body.get("apply"), **totals, "sample": sample}


def _report(result: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        click.echo(json.dumps(result))
        return
    counts = ", ".join(f"{k}={v}" for k, v in result.items() if isinstance(v, int) and not isinstance(v, bool))
    click.echo(f"{'DRY RUN (nothing changed; add --apply to ' + verb + ')' if result['dry_run'] else 'APPLIED'}: {counts}")
    for row in result.get("sample", []):
        rest = "  ".join(str(v) for k, v in row.items() if k != "task_id")
        click.echo(f"  {row.get('task_id')}  {rest}".rstrip())


def register(cli: click.Group) -> None:
    @cli.group()
    @click.option("--url", envvar="ACADEMY_URL", default=DEFAULT_URL, show_default=True, help="The API's base URL.")
    @click.option("--token", envvar="ACADEMY_TOKEN", default=None, help="Admin bearer token (default: a dev token, local stage).")
    @click.pass_context
    def tasks(ctx: click.Context, url: str, token: str | None) -> None:
        """Recurring task repairs: prune future instances, back-fill missed days, migrate to the scheduler's shards."""
        ctx.obj = cli_client(ctx, url, token, timeout_s=300)

    @tasks.command("prune-future")
    @click.option("--apply", is_flag=True, help="Delete (default: only report what would be deleted).")
    @click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 5000), help="Index entries per request.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
    @click.pass_obj
    def prune_future(api: ApiClient, apply: bool, batch: int, as_json: bool) -> None:
        """Remove instances of recurring tasks dated after the task's local today."""
        result = _walk(api, "/admin/tasks/prune-future", {"apply": apply, "limit": batch}, "entries", "scanned")
        _report(result, as_json, "delete them")

    @tasks.command("backfill")
    @click.option("--from", "from_", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First date (YYYY-MM-DD).")
    @click.option("--to", "to", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last date (YYYY-MM-DD).")
    @click.option("--task-id", default=None, help="Only this daily task.")
    @click.option("--apply", is_flag=True, help="Create (default: only report what is missing).")
    @click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 5000), help="Tasks per request.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
    @click.pass_obj
    def backfill(api: ApiClient, from_: Any, to: Any, task_id: str | None, apply: bool, batch: int, as_json: bool) -> None:
        """Create the missed daily instances between --from and --to (never duplicates, never future days)."""
        start, end = date.fromisoformat(from_.date().isoformat()), date.fromisoformat(to.date().isoformat())
        if end < start:
            raise click.BadParameter("--to is before --from", param_hint="--to")
        body: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat(), "apply": apply, "limit": batch}
        if task_id:
            body["task_id"] = task_id
        result = _walk(api, "/admin/tasks/backfill", body, "tasks", "tasks")
        _report(result, as_json, "create them")

    @tasks.command("migrate-shards")
    @click.option("--apply", is_flag=True, help="Migrate (default: only report the tasks that need it).")
    @click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 5000), help="Tasks per request.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
    @click.pass_obj
    def migrate_shards(api: ApiClient, apply: bool, batch: int, as_json: bool) -> None:
        """Give tasks written before the scheduler's shards their shard (run once after deploying; idempotent)."""
        result = _walk(api, "/admin/tasks/migrate-shards", {"apply": apply, "limit": batch}, "tasks", "scanned")
        _report(result, as_json, "migrate them")
