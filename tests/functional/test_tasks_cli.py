"""``academy tasks prune-future|backfill`` against the app served over real HTTP (a local server in a thread)."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner

from academy_cli.client import ClientOptions
from academy_cli.main import cli
from chalicelib.tasks import domain as recurrence
from tests.functional.test_tasks import _damage, instances, make_task, today_in


def academy(url: str, *args: str, options: ClientOptions | None = None) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["tasks", "--url", url, *args], obj=options, catch_exceptions=False)
    return res.exit_code, res.stdout


def test_prune_future_dry_run_then_apply_in_batches(client, tokens, api_url):
    task = make_task(client, tokens, timezone="Europe/Paris")["task"]
    _damage(task["id"], "Europe/Paris", 12)
    code, out = academy(api_url, "prune-future", "--json")
    assert code == 0, out
    dry = json.loads(out)
    assert dry["dry_run"] is True and dry["matched"] == 12 and dry["deleted"] == 0 and len(instances(task["id"])) == 15
    code, out = academy(api_url, "prune-future")
    assert "DRY RUN" in out and "matched=12" in out
    code, out = academy(api_url, "prune-future", "--apply", "--batch", "5", "--json")
    done = json.loads(out)
    assert code == 0 and done["dry_run"] is False and done["deleted"] == 12
    assert max(instances(task["id"])) == today_in("Europe/Paris").isoformat()
    code, out = academy(api_url, "prune-future", "--apply", "--json")
    assert json.loads(out)["deleted"] == 0


def test_backfill_dry_run_then_apply(client, tokens, api_url):
    today = today_in("UTC")
    task = make_task(client, tokens, timezone="UTC", starts_on=(today - timedelta(days=4)).isoformat())["task"]
    args = ["backfill", "--from", (today - timedelta(days=9)).isoformat(), "--to", today.isoformat()]
    code, out = academy(api_url, *args, "--json")
    assert code == 0 and json.loads(out)["matched"] == 4 and len(instances(task["id"])) == 1
    code, out = academy(api_url, *args, "--apply", "--batch", "1", "--json")
    assert json.loads(out)["created"] == 4 and len(instances(task["id"])) == 5
    code, out = academy(api_url, *args, "--apply", "--json")
    assert json.loads(out)["created"] == 0
    res = CliRunner().invoke(cli, ["tasks", "--url", api_url, "backfill", "--from", "2025-02-01", "--to", "2025-01-01"])
    assert res.exit_code != 0 and "--to" in res.output
    res = CliRunner().invoke(cli, ["tasks", "--url", api_url, "backfill", "--from", "2023-01-01", "--to", "2025-01-01"])
    assert res.exit_code != 0 and "366" in res.output


def test_backfill_waits_out_a_running_scheduler_then_applies(client, tokens, api_url, monkeypatch):
    import threading

    from chalicelib.tasks import service, store

    today = today_in("UTC")
    task = make_task(client, tokens, timezone="UTC", starts_on=(today - timedelta(days=3)).isoformat())["task"]
    monkeypatch.setattr(service, "TIMINGS", service.Timings(backfill_wait_s=0.2))  # the server answers 409 quickly
    naps: list[float] = []
    scheduler = store.Lease("scheduler", 30, shard=recurrence.shard_of(task["id"]))
    assert scheduler.acquire()
    threading.Timer(1.0, scheduler.release).start()  # the scheduler run ends a moment later
    args = ["backfill", "--from", (today - timedelta(days=3)).isoformat(), "--to", today.isoformat(), "--apply", "--json"]
    code, out = academy(api_url, *args, options=ClientOptions(sleep=naps.append))
    assert code == 0, out
    assert json.loads(out)["created"] == 3 and len(instances(task["id"])) == 4
    assert naps and all(1 <= s <= 60 for s in naps)  # it waited as the server said, then sent the batch again
