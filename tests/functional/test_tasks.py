"""Tasks: one instance at creation, the scheduler as the only source of future ones, end, prune, backfill."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.tasks import domain as recurrence


def call(client, method, path, token, body=None):
    kw = {"headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}}
    if body is not None:
        kw["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return getattr(client.http, method)(path, **kw)


def make_task(client, tokens, **kw):
    body = {"title": "Read 20 minutes", "recurrence": "daily", **kw}
    r = call(client, "post", "/admin/tasks", tokens.admin, body)
    assert r.status_code == 201, r.body
    return r.json_body


def instances(task_id: str) -> dict[str, str]:
    from chalicelib.tasks.store import TaskInstance

    return {i.date: i.status for i in TaskInstance.query(task_id, consistent_read=True)}


def today_in(tz: str) -> date:
    return recurrence.local_date(tz, datetime.now(UTC))


def test_create_makes_exactly_one_instance_for_today(client, tokens):
    created = make_task(client, tokens, timezone="Pacific/Kiritimati")
    task = created["task"]
    assert created["instances_created"] == 1 and task["status"] == "active"
    assert instances(task["id"]) == {today_in("Pacific/Kiritimati").isoformat(): "open"}
    r = call(client, "get", f"/admin/tasks/{task['id']}/instances", tokens.admin)
    assert [i["date"] for i in r.json_body["items"]] == [today_in("Pacific/Kiritimati").isoformat()]
    assert call(client, "get", f"/admin/tasks/{task['id']}", tokens.admin).json_body == task
    assert task["id"] in [t["id"] for t in call(client, "get", "/admin/tasks", tokens.admin).json_body["items"]]


def test_daily_task_starting_later_gets_no_future_instance(client, tokens):
    later = (today_in("UTC") + timedelta(days=5)).isoformat()
    created = make_task(client, tokens, timezone="UTC", starts_on=later)
    assert created["instances_created"] == 0 and instances(created["task"]["id"]) == {}
    one_off = make_task(client, tokens, recurrence="none", timezone="UTC", starts_on=later)
    assert one_off["instances_created"] == 1 and instances(one_off["task"]["id"]) == {later: "open"}


def test_task_defaults_to_student_zone_and_student_filter(client, tokens):
    s = call(
        client, "post", "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada", "timezone": "Asia/Kolkata"}
    )
    sid = s.json_body["id"]
    created = make_task(client, tokens, student_id=sid)
    assert created["task"]["timezone"] == "Asia/Kolkata"
    make_task(client, tokens)
    mine = call(client, "get", f"/admin/tasks?student_id={sid}", tokens.admin).json_body["items"]
    assert [t["id"] for t in mine] == [created["task"]["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x"}, "recurrence"),
        ({"title": "x", "recurrence": "hourly"}, "recurrence"),
        ({"title": "", "recurrence": "daily"}, "title"),
        ({"title": "x", "recurrence": "daily", "timezone": "Mars/Base"}, "timezone"),
        ({"title": "x", "recurrence": "daily", "starts_on": "2025-02-30"}, "starts_on"),
        ({"title": "x", "recurrence": "daily", "starts_on": 20250101}, "starts_on"),
        ({"title": "x", "recurrence": "daily", "starts_on": "2025-03-02", "ends_on": "2025-03-01"}, "ends_on"),
        ({"title": "x", "recurrence": "daily", "student_id": "01NOSUCH"}, "student_id"),
        ({"title": "x", "recurrence": "daily", "owner": "me"}, "owner"),
    ],
)
def test_bad_task_bodies_are_400(client, tokens, body, field):
    r = call(client, "post", "/admin/tasks", tokens.admin, body)
    assert r.status_code == 400, r.body
    assert field in r.json_body["error"]["details"]["fields"]


def test_unknown_ids_roles_and_instance_rules(client, tokens):
    assert call(client, "get", "/admin/tasks/01NOPE", tokens.admin).status_code == 404
    assert call(client, "get", "/admin/tasks/01NOPE/instances", tokens.admin).status_code == 404
    assert call(client, "delete", "/admin/tasks/01NOPE", tokens.admin).status_code == 404
    assert call(client, "get", "/admin/tasks", tokens.customer_a).status_code == 403
    assert call(client, "post", "/admin/tasks/prune-future", tokens.customer_a, {}).status_code == 403
    task = make_task(client, tokens, timezone="UTC")["task"]
    today = today_in("UTC").isoformat()
    path = f"/admin/tasks/{task['id']}/instances"
    assert call(client, "patch", f"{path}/2001-01-01", tokens.admin, {"status": "done"}).status_code == 404
    assert call(client, "patch", f"{path}/not-a-date", tokens.admin, {"status": "done"}).status_code == 400
    assert call(client, "patch", f"{path}/{today}", tokens.admin, {"status": "finished"}).status_code == 400
    r = call(client, "patch", f"{path}/{today}", tokens.admin, {"status": "done"})
    assert r.status_code == 200 and r.json_body["status"] == "done" and r.json_body["done_by"] == "admin-1"
    r = call(client, "patch", f"{path}/{today}", tokens.admin, {"status": "open"})
    assert r.json_body["status"] == "open" and r.json_body["done_at"] is None
    assert call(client, "get", f"{path}?from=2025-13-01", tokens.admin).status_code == 400


# --- the scheduler ---------------------------------------------------------------------------------


def ids_in_shard(shard: int, n: int) -> list[str]:
    """``n`` fresh task ids whose shard is ``shard``."""
    from chalicelib.core.db import new_id

    ids: list[str] = []
    while len(ids) < n:
        i = new_id()
        if recurrence.shard_of(i) == shard:
            ids.append(i)
    return ids


def _seed_daily(n: int, tz: str = "UTC", starts_on: date | None = None, shard: int = 5, legacy: bool = False) -> list[str]:
    """``n`` active daily tasks in one shard (or, ``legacy``, as written before the shards)."""
    from chalicelib.core.db import utcnow
    from chalicelib.tasks.store import Task, scheduling_fields

    ids = []
    with Task.batch_write() as batch:
        for i, task_id in enumerate(ids_in_shard(shard, n)):
            t = Task(
                id=task_id,
                title=f"T{i}",
                recurrence="daily",
                timezone=tz,
                starts_on=(starts_on or date(2025, 1, 1)).isoformat(),
                status="active",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            if legacy:
                t.active_daily = "daily"
            else:
                scheduling_fields(t, served=True)
            batch.save(t)
            ids.append(t.id)
    return ids


class InstanceWrites:
    """Counts write calls that reach the task-instances table (botocore level, every client)."""

    OPS = ("PutItem", "BatchWriteItem", "TransactWriteItems", "UpdateItem", "DeleteItem")

    def __init__(self) -> None:
        from chalicelib.tasks.store import InstanceWriterLease, TaskInstance

        self.table = TaskInstance.Meta.table_name
        self.calls = 0
        clients = {m._get_connection().connection.client for m in (TaskInstance, InstanceWriterLease)}
        for c in clients:
            for op in self.OPS:
                c.meta.events.register(f"before-parameter-build.dynamodb.{op}", self._before)

    def _before(self, params, **_) -> None:
        items = params.get("TransactItems") or []
        tables = {params.get("TableName"), *params.get("RequestItems", {})}
        tables |= {next(iter(i.values())).get("TableName") for i in items}
        if self.table in tables:
            self.calls += 1


def test_scheduler_twice_makes_one_instance_per_task_per_day_and_the_rerun_writes_nothing(aws):
    from chalicelib.tasks import service, store

    ids = _seed_daily(125, shard=3) + _seed_daily(125, shard=7)
    now = datetime(2025, 5, 1, 0, 5, tzinfo=UTC)
    writes = InstanceWrites()
    first = service.run_scheduler(now=now, page_size=100)
    assert first["created"] == 250 and first["existing"] == 0 and first["skipped"] == 0
    assert writes.calls == 10  # BatchWriteItem, 25 instances each (5 per shard)
    writes.calls = 0
    second = service.run_scheduler(now=now)
    assert second["created"] == 0 and second["existing"] == 250 and second["skipped"] == 0
    assert writes.calls == 0
    assert store.current_lease(3) is None and store.current_lease(7) is None  # released at the end of each run
    for task_id in ids:
        assert instances(task_id) == {"2025-05-01": "open"}


def test_concurrent_scheduler_runs_one_writes_the_others_skip(aws):
    """EventBridge may fire twice: while one run holds the lease, every other run returns at once
    (skipped, nothing read or written); free-for-all threads still make one instance per task per day."""
    from chalicelib.tasks import service, store

    ids = _seed_daily(120)
    now = datetime(2025, 5, 1, 0, 5, tzinfo=UTC)
    inside, others_done = threading.Event(), threading.Event()

    def slow_put(items, lease):
        inside.set()
        assert others_done.wait(30)
        return store.batch_put(items, lease)

    results: list[dict] = []
    holder = threading.Thread(target=lambda: results.append(service.run_scheduler(now=now, writer=slow_put)))
    holder.start()
    assert inside.wait(30)
    writes = InstanceWrites()
    others = [service.run_scheduler(now=now) for _ in range(3)]
    assert writes.calls == 0
    others_done.set()
    holder.join(30)
    assert [r["skipped"] for r in others] == [1, 1, 1] and all(r["created"] == r["tasks"] == 0 for r in others)
    assert results[0]["created"] == 120 and results[0]["skipped"] == 0

    nxt = now + timedelta(days=1)
    barrier = threading.Barrier(4)
    results.clear()

    def run() -> None:
        barrier.wait()
        results.append(service.run_scheduler(now=nxt))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["created"] for r in results) == 120  # exactly once: the lease serialises the writers
    assert all(r["skipped"] == 1 or r["created"] + r["existing"] == 120 for r in results)
    for task_id in ids:
        assert instances(task_id) == {"2025-05-01": "open", "2025-05-02": "open"}


def test_a_crashed_runs_lease_expires_and_the_next_run_proceeds(aws):
    import time

    from chalicelib.tasks import service, store

    ids = _seed_daily(30)
    now = datetime(2025, 5, 1, 0, 5, tzinfo=UTC)
    crashed = store.Lease("scheduler", recurrence.SCHEDULER_LEASE_S, shard=5)
    assert crashed.acquire()  # ... and the process dies without releasing it
    blocked = service.run_scheduler(now=now)
    assert blocked["skipped"] == 1 and blocked["created"] == 0 and instances(ids[0]) == {}
    expired = service.Timings(clock=recurrence.Clock(wall=lambda: time.time() + recurrence.SCHEDULER_LEASE_S + 1))
    later = service.run_scheduler(now=now, timings=expired)
    assert later["skipped"] == 0 and later["created"] == 30
    assert store.current_lease(5) is None
    crashed.release()  # the dead run's late release cannot remove someone else's lease
    assert all(instances(t) == {"2025-05-01": "open"} for t in ids)


def test_a_run_that_lost_its_lease_stops_writing(aws):
    import time

    from chalicelib.tasks import service, store

    ids = _seed_daily(260)
    now = datetime(2025, 5, 1, 0, 5, tzinfo=UTC)
    calls = []
    stalled = [0.0]  # seconds the run's clocks have jumped
    clock = recurrence.Clock(wall=lambda: time.time() + stalled[0], mono=lambda: time.monotonic() + stalled[0])

    def put_then_stall(items, lease):
        calls.append(len(items))
        if len(calls) == 2:  # the run stalls past its lease; another run takes over
            stalled[0] = recurrence.SCHEDULER_LEASE_S + 1
            assert store.Lease("scheduler", recurrence.SCHEDULER_LEASE_S, clock, shard=5).acquire()
        return store.batch_put(items, lease)

    stats = service.run_scheduler(now=now, timings=service.Timings(clock=clock), writer=put_then_stall)
    assert stats["lease_lost"] == 1 and stats["created"] == 25
    assert sum(1 for t in ids if instances(t)) == 25
    assert store.current_lease(5) is not None  # the other run's lease is untouched


def test_backfill_and_scheduler_take_turns(client, tokens, monkeypatch):
    from chalicelib.tasks import service, store

    tz = "UTC"
    start = today_in(tz) - timedelta(days=3)
    task = make_task(client, tokens, timezone=tz, starts_on=start.isoformat())["task"]
    body = {"from": start.isoformat(), "to": today_in(tz).isoformat(), "apply": True}
    monkeypatch.setattr(service, "TIMINGS", service.Timings(backfill_wait_s=0.3))
    shard = recurrence.shard_of(task["id"])  # a backfill of one task takes its task's shard lease
    running = store.Lease("scheduler", recurrence.SCHEDULER_LEASE_S, shard=shard)
    assert running.acquire()
    r = call(client, "post", "/admin/tasks/backfill", tokens.admin, body)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "instance_writer_busy", r.body
    assert r.json_body["error"]["details"]["holder"] == "scheduler"
    assert len(instances(task["id"])) == 1
    dry = call(client, "post", "/admin/tasks/backfill", tokens.admin, {**body, "apply": False})
    assert dry.status_code == 200 and dry.json_body["matched"] == 3  # a dry run needs no lease
    running.release()
    backfilling = store.Lease("backfill", recurrence.BACKFILL_LEASE_S, shard=shard)
    assert backfilling.acquire()
    impatient = service.Timings(scheduler_wait_s=0.3)
    assert service.run_scheduler(timings=impatient)["skipped"] == 1  # the batch outlived the scheduler's patience
    # A backfill batch that finishes while the scheduler waits: the scheduler runs after it, not an hour later.
    threading.Timer(0.5, backfilling.release).start()
    waited = service.run_scheduler(timings=service.Timings(scheduler_wait_s=10.0))
    assert waited["skipped"] == 0 and waited["created"] == 1  # today's
    assert store.current_lease(shard) is None
    r = call(client, "post", "/admin/tasks/backfill", tokens.admin, body)
    assert r.status_code == 200 and r.json_body["created"] == 2 and r.json_body["existing"] == 2, r.body  # the 2 missed days
    assert store.current_lease(shard) is None
    assert service.run_scheduler()["created"] == 0


def test_done_survives_rerun_and_ended_or_deleted_tasks_get_nothing(client, tokens):
    from chalicelib.tasks import service

    live = make_task(client, tokens, timezone="UTC")["task"]
    ending = make_task(client, tokens, timezone="UTC", ends_on=today_in("UTC").isoformat())["task"]
    gone = make_task(client, tokens, timezone="UTC")["task"]
    today = today_in("UTC").isoformat()
    call(client, "patch", f"/admin/tasks/{live['id']}/instances/{today}", tokens.admin, {"status": "done"})
    assert call(client, "delete", f"/admin/tasks/{gone['id']}", tokens.admin).status_code == 200
    service.run_scheduler()
    assert instances(live["id"]) == {today: "done"}
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    stats = service.run_scheduler(now=tomorrow)
    tomorrow_s = tomorrow.date().isoformat()
    assert instances(live["id"]) == {today: "done", tomorrow_s: "open"}
    assert instances(ending["id"]) == {today: "open"} and stats["retired"] == 1
    assert instances(gone["id"]) == {today: "open"}
    assert call(client, "get", f"/admin/tasks/{ending['id']}", tokens.admin).json_body["status"] == "ended"


def test_scheduled_function_is_wired_to_an_hourly_cron_and_fans_out_to_shard_jobs(client, app, aws):
    """The hourly function enqueues one job per shard with work (once per hour: a second firing enqueues
    nothing); the jobs write the instances; the next hour's monitor row reports what they created."""
    from chalicelib.jobs import ledger
    from tests.functional.test_schedules import drain_jobs

    ids = _seed_daily(3, shard=5) + _seed_daily(2, shard=200)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def fire(at: datetime) -> dict:
        ev = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
        ev["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return client.lambda_.invoke("daily_task_instances", ev).payload

    first = fire(hour)
    assert first["shards"] == 2 and first["enqueued"] == 2 and first["deduplicated"] == 0 and first["legacy"] == 0
    again = fire(hour)  # EventBridge delivered it twice: each shard's job exists already
    assert again["shards"] == 2 and again["enqueued"] == 0 and again["deduplicated"] == 2
    assert drain_jobs(app) == 2
    assert all(len(instances(t)) == 1 for t in ids)
    jobs, _ = ledger.list_jobs(state="succeeded", job_type="tasks.shard_instances", limit=10, next_token=None)
    assert sorted((j.result or {}).get("created") for j in jobs) == [2, 3]
    nxt = fire(hour + timedelta(hours=1))  # its row counts the previous hour's shard jobs, as they reported
    assert nxt["created"] == 5 and nxt["tasks"] == 5 and nxt["jobs"] == 2 and nxt["jobs_pending"] == 0
    assert nxt["enqueued"] == 2  # and this hour's jobs
    assert app.handler_map["daily_task_instances"] is not None


# --- end, prune, backfill ----------------------------------------------------------------------------


def _damage(task_id: str, tz: str, days_ahead: int) -> None:
    """What the old bug did: instances for future dates, created at task creation."""
    from chalicelib.tasks import store

    today = today_in(tz)
    cands = [recurrence.Candidate(task_id, today + timedelta(days=d), tz) for d in range(-2, days_ahead + 1)]
    store.ensure_instances(cands, "create")


def test_delete_ends_recurrence_removes_future_keeps_past(client, tokens):
    task = make_task(client, tokens, timezone="Australia/Sydney")["task"]
    _damage(task["id"], "Australia/Sydney", 10)
    r = call(client, "delete", f"/admin/tasks/{task['id']}", tokens.admin)
    assert r.status_code == 200 and r.json_body["future_instances_deleted"] == 10
    assert r.json_body["task"]["status"] == "ended" and r.json_body["task"]["ends_on"] == today_in("Australia/Sydney").isoformat()
    left = sorted(instances(task["id"]))
    assert len(left) == 3 and left[-1] == today_in("Australia/Sydney").isoformat()
    again = call(client, "delete", f"/admin/tasks/{task['id']}", tokens.admin)
    assert again.status_code == 200 and again.json_body == {
        **again.json_body,
        "already_ended": True,
        "future_instances_deleted": 0,
    }


def test_prune_dry_run_changes_nothing_apply_removes_only_recurring_future(client, tokens):
    daily = make_task(client, tokens, timezone="Pacific/Kiritimati")["task"]  # UTC+14: the furthest "today"
    daily_west = make_task(client, tokens, timezone="Pacific/Pago_Pago")["task"]  # UTC-11
    one_off_future = (today_in("UTC") + timedelta(days=30)).isoformat()
    one_off = make_task(client, tokens, recurrence="none", timezone="UTC", starts_on=one_off_future)["task"]
    _damage(daily["id"], "Pacific/Kiritimati", 30)
    _damage(daily_west["id"], "Pacific/Pago_Pago", 5)
    before = {t: instances(t) for t in (daily["id"], daily_west["id"], one_off["id"])}

    dry = call(client, "post", "/admin/tasks/prune-future", tokens.admin, {"apply": False})
    assert dry.status_code == 200, dry.body
    body = dry.json_body
    assert body["dry_run"] is True and body["matched"] == 35 and body["deleted"] == 0 and len(body["sample"]) == 20
    assert {t: instances(t) for t in before} == before
    assert call(client, "post", "/admin/tasks/prune-future", tokens.admin, {}).json_body["matched"] == 35

    # apply in small batches, the way the CLI walks a big prune
    deleted, cursor, rounds = 0, None, 0
    while True:
        r = call(client, "post", "/admin/tasks/prune-future", tokens.admin, {"apply": True, "limit": 7, "cursor": cursor})
        assert r.status_code == 200, r.body
        deleted += r.json_body["deleted"]
        cursor = r.json_body["next_cursor"]
        rounds += 1
        if not cursor:
            break
    assert deleted == 35 and rounds > 3
    assert max(instances(daily["id"])) == today_in("Pacific/Kiritimati").isoformat()
    assert max(instances(daily_west["id"])) == today_in("Pacific/Pago_Pago").isoformat()
    assert instances(one_off["id"]) == {one_off_future: "open"}  # non-recurring: untouched
    audit = call(client, "get", "/admin/audit?action=tasks.prune_future", tokens.admin).json_body["items"]
    assert audit and audit[0]["params"]["apply"] is True
    assert call(client, "post", "/admin/tasks/prune-future", tokens.admin, {"apply": "yes"}).status_code == 400
    assert call(client, "post", "/admin/tasks/prune-future", tokens.admin, {"cursor": "%%%"}).status_code == 400


def test_backfill_creates_missed_days_once(client, tokens):
    tz = "America/New_York"
    today = today_in(tz)
    start = today - timedelta(days=6)
    task = make_task(client, tokens, timezone=tz, starts_on=start.isoformat())["task"]
    assert instances(task["id"]) == {start.isoformat(): "open"}
    gone = make_task(client, tokens, timezone=tz, starts_on=start.isoformat())["task"]
    call(client, "delete", f"/admin/tasks/{gone['id']}", tokens.admin)
    body = {"from": (today - timedelta(days=10)).isoformat(), "to": (today + timedelta(days=3)).isoformat()}
    dry = call(client, "post", "/admin/tasks/backfill", tokens.admin, body)
    assert dry.status_code == 200, dry.body
    assert dry.json_body["dry_run"] is True and dry.json_body["matched"] == 6 and dry.json_body["created"] == 0
    assert len(instances(task["id"])) == 1
    r = call(client, "post", "/admin/tasks/backfill", tokens.admin, {**body, "apply": True})
    assert r.json_body["created"] == 6
    assert sorted(instances(task["id"])) == [d.isoformat() for d in recurrence.days(start, today)]
    r = call(client, "post", "/admin/tasks/backfill", tokens.admin, {**body, "apply": True, "task_id": task["id"]})
    assert r.json_body["created"] == 0 and r.json_body["existing"] == 7
    for bad in (
        {"from": "2025-02-01", "to": "2025-01-01"},
        {"from": "2023-01-01", "to": "2025-01-01"},
        {"from": "2025-01-01"},
        {"from": "2025-01-01", "to": "2025-01-31", "task_id": "01NOPE"},
    ):
        r = call(client, "post", "/admin/tasks/backfill", tokens.admin, bad)
        assert r.status_code in (400, 404), (bad, r.body)
