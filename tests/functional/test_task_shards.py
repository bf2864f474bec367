"""The scheduler's shards: shard jobs (bounded, resumable, idempotent), per-shard leases, the fan-out,
the legacy rows and the shard migration."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from chalicelib.tasks import domain as recurrence
from tests.functional.test_schedules import drain_jobs
from tests.functional.test_tasks import _seed_daily, call, instances, make_task, today_in

NOW = datetime(2025, 5, 1, 0, 5, tzinfo=UTC)


class InstanceKeysWritten:
    """Every task-instance key a write request carries (BatchWriteItem and PutItem), as sent."""

    def __init__(self) -> None:
        from chalicelib.tasks.store import InstanceWriterLease, TaskInstance

        self.table = TaskInstance.Meta.table_name
        self.keys: Counter[tuple[str, str]] = Counter()
        for c in {m._get_connection().connection.client for m in (TaskInstance, InstanceWriterLease)}:
            c.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", self._batch)
            c.meta.events.register("before-parameter-build.dynamodb.PutItem", self._put)

    def _batch(self, params, **_) -> None:
        for req in params.get("RequestItems", {}).get(self.table, []):
            if "PutRequest" in req:  # (the hook outlives the test on a shared client: deletes pass through)
                item = req["PutRequest"]["Item"]
                self.keys[(item["task_id"]["S"], item["date"]["S"])] += 1

    def _put(self, params, **_) -> None:
        if params.get("TableName") == self.table:
            self.keys[(params["Item"]["task_id"]["S"], params["Item"]["date"]["S"])] += 1


class Killed(Exception):
    pass


def test_a_shard_job_killed_half_way_then_redelivered_writes_each_instance_once(aws, monkeypatch):
    from chalicelib.tasks import service, store

    ids = _seed_daily(260, shard=9)
    written = InstanceKeysWritten()
    calls = []

    def die_after_three(items, lease):
        calls.append(len(items))
        if len(calls) > 3:
            raise Killed("the process dies here")
        return store.batch_put(items, lease)

    with monkeypatch.context() as m:
        m.setattr(store.Lease, "release", lambda self: None)  # a killed process releases nothing
        with pytest.raises(Killed):
            service.run_shard(9, NOW, job_id="job-1", writer=die_after_three)
    assert sum(written.keys.values()) == 75 and store.current_lease(9) is not None
    other = service.run_shard(9, NOW, job_id="job-2")  # another job finds the dead run's lease: skips
    assert other.stats["skipped"] == 1 and other.held_by == "scheduler"
    again = service.run_shard(9, NOW, job_id="job-1")  # the redelivery takes over its own lease
    assert again.stats["created"] == 185 and again.stats["existing"] == 75 and again.after is None
    assert len(written.keys) == 260 and set(written.keys.values()) == {1}  # each instance written once
    assert store.current_lease(9) is None
    assert all(instances(t) == {"2025-05-01": "open"} for t in ids)


def test_a_shard_job_over_its_budget_hands_the_rest_to_a_continuation(app, aws, monkeypatch):
    from chalicelib.jobs import ledger, registry
    from chalicelib.tasks import service, store

    ids = _seed_daily(250, shard=11)
    tuned = registry.JOB_TYPES["tasks.shard_instances"]
    budget = service.Budget(max_items=100)
    monkeypatch.setitem(registry.JOB_TYPES, tuned.name, replace(tuned, fn=partial(service.run_shard_job, budget=budget)))
    written = InstanceKeysWritten()
    out = service.fan_out(NOW)
    assert out["shards"] == 1 and out["enqueued"] == 1
    assert drain_jobs(app) == 3  # 100 + 100 + 50 tasks: the first part and two continuations
    assert len(written.keys) == 250 and set(written.keys.values()) == {1}
    jobs, _ = ledger.list_jobs(state="succeeded", job_type="tasks.shard_instances", limit=10, next_token=None)
    parts = sorted((j.payload["part"], j.result["tasks"], j.result["created"]) for j in jobs)
    assert parts == [(0, 100, 100), (1, 100, 100), (2, 50, 50)]
    assert jobs[-1].payload["after"] is None and all(j.payload["after"] for j in jobs[:-1])
    tally = store.tally("2025-05-01T00")
    assert tally is not None and (tally.jobs, tally.done, tally.created, tally.tasks) == (3, 3, 250, 250)
    assert all(instances(t) == {today_in("UTC").isoformat(): "open"} for t in ids)  # a job serves the day it runs
    # the part that continued is delivered again (at least once): the continuation is not enqueued twice
    first = next(j for j in jobs if j.payload["part"] == 0)
    assert service._dispatch_part("2025-05-01T00", 11, 1, first.result["continued_after"]) is False
    assert not store.record_part("2025-05-01T00", "11#0", first.result)  # nor counted twice


def test_per_shard_leases_two_shards_run_together_the_same_shard_twice_does_not(aws):
    from chalicelib.tasks import service, store

    _seed_daily(30, shard=3)
    _seed_daily(30, shard=7)
    inside, release = threading.Event(), threading.Event()

    def stall(items, lease):
        inside.set()
        assert release.wait(30)
        return store.batch_put(items, lease)

    results: list[service.ShardRun] = []
    holder = threading.Thread(target=lambda: results.append(service.run_shard(3, NOW, job_id="a", writer=stall)))
    holder.start()
    assert inside.wait(30)
    twin = service.run_shard(3, NOW, job_id="b")  # the same shard: skipped, nothing read or written
    neighbour = service.run_shard(7, NOW, job_id="c")  # another shard: runs at the same time
    release.set()
    holder.join(30)
    assert twin.stats["skipped"] == 1 and twin.stats["tasks"] == 0
    assert neighbour.stats["created"] == 30 and results[0].stats["created"] == 30


def test_backfill_and_a_shard_job_on_the_same_shard_serialise(client, app, tokens, monkeypatch):
    from chalicelib.jobs import ledger
    from chalicelib.tasks import service, store

    tz = "UTC"
    start = today_in(tz) - timedelta(days=2)
    task = make_task(client, tokens, timezone=tz, starts_on=start.isoformat())["task"]
    shard = recurrence.shard_of(task["id"])
    monkeypatch.setattr(service, "TIMINGS", service.Timings(backfill_wait_s=0.2, scheduler_wait_s=0.2))
    body = {"from": start.isoformat(), "to": today_in(tz).isoformat(), "apply": True, "task_id": task["id"]}

    # a shard job holds the shard: the backfill of a task of that shard waits, then 409
    inside, release = threading.Event(), threading.Event()

    def stall(items, lease):
        inside.set()
        assert release.wait(30)
        return store.batch_put(items, lease)

    _seed_daily(1, shard=shard)  # a task of the same shard without today's instance: the shard job writes
    runner = threading.Thread(target=lambda: service.run_shard(shard, job_id="s", writer=stall))
    runner.start()
    assert inside.wait(30)
    r = call(client, "post", "/admin/tasks/backfill", tokens.admin, body)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "instance_writer_busy", r.body
    assert r.json_body["error"]["details"]["holder"] == "scheduler" and r.json_body["error"]["details"]["shard"] == shard
    release.set()
    runner.join(30)
    assert store.current_lease(shard) is None

    # a backfill batch holds the shard: the shard job (through the worker) waits, then hands the message back
    backfilling = store.Lease("backfill", recurrence.BACKFILL_LEASE_S, shard=shard)
    assert backfilling.acquire()
    assert service._dispatch_part("2025-05-01T00", shard, 0, None)
    drain_jobs(app, max_rounds=1)
    (job,) = [j for j in ledger.list_jobs(state="queued", job_type="tasks.shard_instances", limit=10, next_token=None)[0]]
    assert job.last_error and "backfill" in job.last_error.message
    backfilling.release()
    r = call(client, "post", "/admin/tasks/backfill", tokens.admin, body)
    # the missed day; the start's came at creation, today's from the shard job that ran first
    assert r.status_code == 200 and (r.json_body["created"], r.json_body["existing"]) == (1, 2), r.body


def test_legacy_rows_are_served_until_migrated_and_the_migration_is_idempotent(client, app, tokens):
    from chalicelib.tasks import service, store
    from tests.functional.test_tasks import InstanceWrites

    legacy = _seed_daily(40, shard=2, legacy=True) + _seed_daily(20, shard=4, legacy=True)
    ended = _seed_daily(1, shard=6, legacy=True)[0]
    store.Task(id=ended).update(actions=[store.Task.active_daily.remove(), store.Task.status.set("ended")])
    modern = _seed_daily(10, shard=2)

    # before the migration, the hourly run serves legacy rows with a job of their own (conditional puts)
    out = service.fan_out(NOW)
    assert out["legacy"] == 1 and out["shards"] == 2 and out["enqueued"] == 2
    assert drain_jobs(app) == 2
    assert all(instances(t) == {today_in("UTC").isoformat(): "open"} for t in legacy + modern)

    # dry run: reports, writes nothing
    tasks_table = store.Task.Meta.table_name
    updates = Counter()

    def count(params, **_):
        if params.get("TableName") == tasks_table:
            updates[params.get("Key", {}).get("id", {}).get("S")] += 1

    store.Task._get_connection().connection.client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", count)
    dry = call(client, "post", "/admin/tasks/migrate-shards", tokens.admin, {"limit": 25})
    assert dry.status_code == 200 and dry.json_body["dry_run"] is True and dry.json_body["migrated"] == 0, dry.body
    assert dry.json_body["scanned"] == 25 and dry.json_body["next_cursor"]
    assert not updates

    def walk(apply: bool) -> dict:
        totals = Counter()
        cursor = None
        while True:
            r = call(client, "post", "/admin/tasks/migrate-shards", tokens.admin, {"apply": apply, "limit": 25, "cursor": cursor})
            assert r.status_code == 200, r.body
            totals.update({k: r.json_body[k] for k in ("scanned", "matched", "migrated")})
            cursor = r.json_body["next_cursor"]
            if not cursor:
                return dict(totals)

    assert walk(False) == {"scanned": 71, "matched": 61, "migrated": 0} and not updates
    assert walk(True) == {"scanned": 71, "matched": 61, "migrated": 61}
    assert len(updates) == 61
    assert not store.shard_has_work(recurrence.LEGACY)
    assert {t.id for t in store.shard_tasks(2)} == {t for t in legacy + modern if recurrence.shard_of(t) == 2}
    migrated_ended = store.Task.get(ended)
    assert migrated_ended.shard == recurrence.shard_of(ended) and migrated_ended.sched_shard is None  # not served again
    updates.clear()
    assert walk(True) == {"scanned": 71, "matched": 0, "migrated": 0} and not updates  # twice: no writes
    writes = InstanceWrites()
    assert service.run_scheduler()["existing"] == 70 and writes.calls == 0  # served by their shards now
    audit = call(client, "get", "/admin/audit?action=tasks.migrate_shards", tokens.admin).json_body["items"]
    assert audit and audit[0]["params"]["apply"] is True
    assert call(client, "post", "/admin/tasks/migrate-shards", tokens.admin, {"apply": "yes"}).status_code == 400


def test_prune_takes_the_shard_lease_of_each_instance_it_deletes(client, tokens, monkeypatch):
    from chalicelib.tasks import service, store
    from tests.functional.test_tasks import _damage

    task = make_task(client, tokens, timezone="UTC")["task"]
    _damage(task["id"], "UTC", 3)
    shard = recurrence.shard_of(task["id"])
    monkeypatch.setattr(service, "TIMINGS", service.Timings(backfill_wait_s=0.2))
    running = store.Lease("scheduler", recurrence.SCHEDULER_LEASE_S, shard=shard)
    assert running.acquire()
    r = call(client, "post", "/admin/tasks/prune-future", tokens.admin, {"apply": True})
    assert r.status_code == 409 and r.json_body["error"]["code"] == "instance_writer_busy", r.body
    assert len(instances(task["id"])) == 6  # nothing deleted while the shard job writes
    assert call(client, "post", "/admin/tasks/prune-future", tokens.admin, {}).json_body["matched"] == 3  # a dry run: no lease
    running.release()
    r = call(client, "post", "/admin/tasks/prune-future", tokens.admin, {"apply": True})
    assert r.status_code == 200 and r.json_body["deleted"] == 3, r.body
    assert store.current_lease(shard) is None
