"""Admin > Academic > Tasks: HTTP routes, the operator repairs, and the hourly scheduled function."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Cron

from chalicelib.academic import tasks
from chalicelib.academic.schedule_routes import check_id, parse_date
from chalicelib.core import audit
from chalicelib.core.api import Reply, Req, route, schemas
from chalicelib.core.observability import logger, metrics

bp = Blueprint(__name__)
S = schemas("chalicelib.academic.schemas")  # the models, imported on first use


@route(bp, "/admin/tasks", "POST", auth="admin", body=S.TaskIn, response=S.TaskCreated, status=201, tag="tasks")
def create_task(req: Req) -> dict:
    """Create a task and exactly one instance (none yet for a daily task starting in the future)."""
    b: S.TaskIn = req.body
    task, created = tasks.create(b.title, b.description, b.student_id, b.recurrence, b.timezone, b.starts_on, b.ends_on)
    audit.record(req.actor, "task.create", f"task:{task.id}", b.model_dump(mode="json"), {"instances_created": created})
    return {"task": tasks.task_dict(task), "instances_created": created}


@route(bp, "/admin/tasks", "GET", auth="admin", query=S.TaskQuery, response=S.page("TaskOut"), tag="tasks")
def list_tasks(req: Req) -> dict:
    """Every task, in creation order (filter: student_id)."""
    q: S.TaskQuery = req.query
    items, token = tasks.list_tasks(q.limit, q.next_token, q.student_id)
    return {"items": [tasks.task_dict(t) for t in items], "next_token": token}


@route(bp, "/admin/tasks/{task_id}", "GET", auth="admin", response=S.TaskOut, errors=(400,), tag="tasks")
def get_task(req: Req, task_id: str) -> dict:
    """Read one task."""
    return tasks.task_dict(tasks.get(check_id(task_id, "task_id")))


@route(bp, "/admin/tasks/{task_id}", "DELETE", auth="admin", response=S.TaskEnded, errors=(400,), tag="tasks")
def delete_task(req: Req, task_id: str) -> dict:
    """End a task: its recurrence stops, future instances go, past ones stay (idempotent)."""
    task, removed, already = tasks.end(check_id(task_id, "task_id"))
    audit.record(req.actor, "task.delete", f"task:{task_id}", {}, {"future_instances_deleted": removed, "already_ended": already})
    return {"task": tasks.task_dict(task), "future_instances_deleted": removed, "already_ended": already}


@route(
    bp,
    "/admin/tasks/{task_id}/instances",
    "GET",
    auth="admin",
    query=S.InstanceQuery,
    response=S.page("InstanceOut"),
    tag="tasks",
)
def list_instances(req: Req, task_id: str) -> dict:
    """A task's instances, ordered by date (filters: from, to)."""
    q: S.InstanceQuery = req.query
    items, token = tasks.list_instances(check_id(task_id, "task_id"), q.limit, q.next_token, q.from_, q.to)
    return {"items": [tasks.instance_dict(i) for i in items], "next_token": token}


@route(
    bp,
    "/admin/tasks/{task_id}/instances/{date}",
    "PATCH",
    auth="admin",
    body=S.InstancePatch,
    response=S.InstanceOut,
    tag="tasks",
)
def patch_instance(req: Req, task_id: str, date: str) -> dict:
    """Mark one instance open or done."""
    body: S.InstancePatch = req.body
    day = parse_date(date)
    inst = tasks.set_instance_status(check_id(task_id, "task_id"), day, body.status, req.principal.id)
    audit.record(req.actor, "task_instance.update", f"task:{task_id}:{day.isoformat()}", body.model_dump(), {"status": 200})
    return tasks.instance_dict(inst)


@route(bp, "/admin/tasks/prune-future", "POST", auth="admin", body=S.PruneIn, response=S.PruneOut, tag="tasks")
def prune_future(req: Req) -> dict:
    """Delete instances of recurring tasks dated after the task's local today (dry-run by default; one batch)."""
    b: S.PruneIn = req.body
    result = tasks.prune_future(b.apply, b.cursor, b.limit)
    audit.record(
        req.actor,
        "tasks.prune_future",
        "tasks",
        b.model_dump(),
        {k: result[k] for k in ("dry_run", "scanned", "matched", "deleted", "next_cursor")},
    )
    return result


@route(bp, "/admin/tasks/backfill", "POST", auth="admin", body=S.BackfillIn, response=S.BackfillOut, errors=(409,), tag="tasks")
def backfill(req: Req) -> Reply:
    """Create missed daily instances in [from, to] (dry-run by default; one batch, never duplicates)."""
    b: S.BackfillIn = req.body
    result = tasks.backfill(b.from_, b.to, b.apply, b.cursor, b.limit, b.task_id)
    audit.record(
        req.actor,
        "tasks.backfill",
        f"task:{b.task_id}" if b.task_id else "tasks",
        b.model_dump(mode="json", by_alias=True),
        {k: result[k] for k in ("dry_run", "tasks", "matched", "created", "next_cursor")},
    )
    return Reply(result)


@bp.schedule(Cron(0, "*", "*", "*", "?", "*"), name="daily_task_instances")
def daily_task_instances(event: Any) -> dict[str, int]:
    """Hourly: every active daily task gets its instance for its local today (exactly once)."""
    stats = tasks.run_scheduler()
    logger.info("daily task instances ensured", extra={"scheduler": stats})
    metrics.add_metric(name="TaskInstancesCreated", unit="Count", value=stats["created"])
    return stats
