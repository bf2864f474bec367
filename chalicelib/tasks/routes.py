"""Admin > Academic > Tasks: HTTP routes and the operator repairs (prune, backfill)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.core.api import Audit, Reply, Req, route, schemas
from chalicelib.core.calendar import parse_date
from chalicelib.core.db import iso
from chalicelib.tasks import service, store

if TYPE_CHECKING:
    from chalicelib.tasks.schemas import (
        BackfillIn,
        FamilyTaskQuery,
        InstancePatch,
        InstanceQuery,
        MigrateShardsIn,
        PruneIn,
        TaskIn,
        TaskQuery,
    )

bp = Blueprint(__name__)
S = schemas("chalicelib.tasks.schemas")  # the models, imported on first use


def task_dict(t: store.Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "title": t.title,
        "description": t.description,
        "student_id": t.student_id,
        "recurrence": t.recurrence,
        "timezone": t.timezone,
        "starts_on": t.starts_on,
        "ends_on": t.ends_on,
        "status": t.status,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "deleted_at": iso(t.deleted_at),
    }


def instance_dict(i: store.TaskInstance) -> dict[str, Any]:
    return {
        "task_id": i.task_id,
        "date": i.date,
        "status": i.status,
        "timezone": i.timezone,
        "source": i.source,
        "created_at": iso(i.created_at),
        "updated_at": iso(i.updated_at),
        "done_at": iso(i.done_at),
        "done_by": i.done_by,
    }


@route(
    bp, "/admin/tasks", "POST", auth="admin", body=S.TaskIn, response=S.TaskCreated, status=201, tag="tasks", audit="task.create"
)
def create_task(req: Req[TaskIn, None]) -> dict[str, Any]:
    """Create a task and exactly one instance (none yet for a daily task starting in the future)."""
    b = req.body
    task, created = service.create(b.title, b.description, b.student_id, b.recurrence, b.timezone, b.starts_on, b.ends_on)
    if req.audit:
        req.audit.target = f"task:{task.id}"
        req.audit.result["instances_created"] = created
    return {"task": task_dict(task), "instances_created": created}


@route(bp, "/admin/tasks", "GET", auth="admin", query=S.TaskQuery, response=S.page("TaskOut"), tag="tasks")
def list_tasks(req: Req[None, TaskQuery]) -> dict[str, Any]:
    """Every task, in creation order (filter: student_id)."""
    q = req.query
    items, token = store.list_tasks(q.limit, q.next_token, q.student_id)
    return {"items": [task_dict(t) for t in items], "next_token": token}


@route(bp, "/admin/tasks/{task_id}", "GET", auth="admin", response=S.TaskOut, errors=(400,), tag="tasks", ids=("task_id",))
def get_task(req: Req[None, None], task_id: str) -> dict[str, Any]:
    """Read one task."""
    return task_dict(store.get(task_id))


@route(
    bp,
    "/admin/tasks/{task_id}",
    "DELETE",
    auth="admin",
    response=S.TaskEnded,
    errors=(400,),
    tag="tasks",
    audit=Audit("task.delete", target="task:{task_id}", params=False),
    ids=("task_id",),
)
def delete_task(req: Req[None, None], task_id: str) -> dict[str, Any]:
    """End a task: its recurrence stops, future instances go, past ones stay (idempotent)."""
    task, removed, already = service.end(task_id)
    if req.audit:
        req.audit.result.update({"future_instances_deleted": removed, "already_ended": already})
    return {"task": task_dict(task), "future_instances_deleted": removed, "already_ended": already}


@route(
    bp,
    "/admin/tasks/{task_id}/instances",
    "GET",
    auth="admin",
    query=S.InstanceQuery,
    response=S.page("InstanceOut"),
    tag="tasks",
    ids=("task_id",),
)
def list_instances(req: Req[None, InstanceQuery], task_id: str) -> dict[str, Any]:
    """A task's instances, ordered by date (filters: from, to)."""
    q = req.query
    items, token = service.list_instances(task_id, q.limit, q.next_token, q.from_, q.to)
    return {"items": [instance_dict(i) for i in items], "next_token": token}


@route(
    bp,
    "/admin/tasks/{task_id}/instances/{date}",
    "PATCH",
    auth="admin",
    body=S.InstancePatch,
    response=S.InstanceOut,
    tag="tasks",
    audit=Audit("task_instance.update", target="task:{task_id}:{date}"),
    ids=("task_id",),
)
def patch_instance(req: Req[InstancePatch, None], task_id: str, date: str) -> dict[str, Any]:
    """Mark one instance open or done."""
    day = parse_date(date)
    return instance_dict(service.set_instance_status(task_id, day, req.body.status, req.principal.id))


@route(
    bp,
    "/admin/tasks/prune-future",
    "POST",
    auth="admin",
    body=S.PruneIn,
    response=S.PruneOut,
    errors=(409,),
    tag="tasks",
    audit=Audit("tasks.prune_future", target="tasks"),
)
def prune_future(req: Req[PruneIn, None]) -> dict[str, Any]:
    """Delete instances of recurring tasks dated after the task's local today (dry-run by default; one batch)."""
    b = req.body
    result = service.prune_future(b.apply, b.cursor, b.limit)
    if req.audit:
        req.audit.result.update({k: result[k] for k in ("dry_run", "scanned", "matched", "deleted", "next_cursor")})
    return result


@route(
    bp,
    "/admin/tasks/migrate-shards",
    "POST",
    auth="admin",
    body=S.MigrateShardsIn,
    response=S.MigrateShardsOut,
    tag="tasks",
    audit=Audit("tasks.migrate_shards", target="tasks"),
)
def migrate_shards(req: Req[MigrateShardsIn, None]) -> dict[str, Any]:
    """Give tasks written before the scheduler's shards their shard (dry-run by default; one batch)."""
    b = req.body
    result = service.migrate_shards(b.apply, b.cursor, b.limit)
    if req.audit:
        req.audit.result.update({k: result[k] for k in ("dry_run", "scanned", "matched", "migrated", "next_cursor")})
    return result


@route(
    bp,
    "/admin/tasks/backfill",
    "POST",
    auth="admin",
    body=S.BackfillIn,
    response=S.BackfillOut,
    errors=(409,),
    tag="tasks",
    audit="tasks.backfill",
)
def backfill(req: Req[BackfillIn, None]) -> Reply:
    """Create missed daily instances in [from, to] (dry-run by default; one batch, never duplicates)."""
    b = req.body
    if req.audit:
        req.audit.target = f"task:{b.task_id}" if b.task_id else "tasks"
        req.audit.params = b.model_dump(mode="json", by_alias=True)
    result = service.backfill(b.from_, b.to, b.apply, b.cursor, b.limit, b.task_id)
    if req.audit:
        req.audit.result.update({k: result[k] for k in ("dry_run", "tasks", "matched", "created", "next_cursor")})
    return Reply(result)


@route(
    bp,
    "/customer/students/{student_id}/tasks",
    "GET",
    auth="customer",
    query=S.FamilyTaskQuery,
    response=S.FamilyTasks,
    errors=(400, 404),
    tag="tasks",
    ids=("student_id",),
)
def family_tasks(req: Req[None, FamilyTaskQuery], student_id: str) -> dict[str, Any]:
    """The signed-in customer's own student's tasks: today's and past instances (default: the last
    two weeks; ``from``/``to`` cover at most 62 days; never the future)."""
    q = req.query
    got = service.family_tasks(student_id, str(req.principal.id), q.from_, q.to)
    items = [
        {
            "id": t.id,
            "title": t.title,
            "description": t.description,
            "recurrence": t.recurrence,
            "timezone": t.timezone,
            "status": t.status,
            "today": today.isoformat(),
            "instances": [{"date": i.date, "status": i.status, "done_at": iso(i.done_at)} for i in instances],
        }
        for t, today, instances in got.tasks
    ]
    return {"student_id": got.student_id, "items": items, "truncated": got.truncated}
