"""Incident, job and entity in one place: the use cases over the links the intake records (a service room).

- Search groups by entity: the ``by_link`` index names every group that named it (newest first sighting).
- A group's jobs and entities, each with its current state: jobs from the job ledger (one BatchGetItem
  per page), entities from their capability's table (existence, a name, a state) and a console path.
- Verified fixed: every job the group named has since succeeded (the ledger is the proof), computed
  on read of the group page from at most ``VERIFY_MAX_JOBS`` job links (one Query, one BatchGetItem).
- "Retry these jobs": the group's failed jobs, dry-run by default; applying reuses the Jobs page's
  conditional retry (``operations.service.retry_listed``), so repeating it queues nothing twice.
- A job's incidents: the sparse ``by_job`` index of the incidents table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core.db import iso
from chalicelib.incidents import domain, store
from chalicelib.incidents.domain import JOB_LINK, VERIFY_MAX_JOBS

Facts = dict[str, Any]

# --- entity facts: whether it still exists, what it is called, its state ---------------------------


def _batch(model_path: str, ids: list[str], describe: Callable[[Any], Facts]) -> dict[str, Facts]:
    import importlib

    module, name = model_path.rsplit(".", 1)
    model = getattr(importlib.import_module(module), name)
    return {str(item.id): describe(item) for item in model.batch_get(ids)}


def _students(ids: list[str]) -> dict[str, Facts]:
    return _batch(
        "chalicelib.students.store.Student",
        ids,
        lambda s: {"name": s.name, "state": "archived" if s.archived_kind else "active", "customer_id": s.customer_id},
    )


def _schedules(ids: list[str]) -> dict[str, Facts]:
    return _batch("chalicelib.schedules.store.Schedule", ids, lambda s: {"name": s.title, "state": s.state})


def _homework(ids: list[str]) -> dict[str, Facts]:
    return _batch("chalicelib.media.store.Homework", ids, lambda h: {"name": h.filename, "state": h.status})


def _videos(ids: list[str]) -> dict[str, Facts]:
    return _batch("chalicelib.media.store.Video", ids, lambda v: {"name": v.filename, "state": v.status})


def _one_by_one(model_path: str, ids: list[str], describe: Callable[[Any], Facts]) -> dict[str, Facts]:
    """Tables the API reads item by item (no BatchGetItem grant): at most a page of GetItem calls."""
    import importlib

    module, name = model_path.rsplit(".", 1)
    model = getattr(importlib.import_module(module), name)
    out: dict[str, Facts] = {}
    for i in ids:
        try:
            out[i] = describe(model.get(i))
        except model.DoesNotExist:
            continue
    return out


def _customers(ids: list[str]) -> dict[str, Facts]:
    return _one_by_one("chalicelib.customers.store.Customer", ids, lambda c: {"name": c.display_name, "state": None})


def _tasks(ids: list[str]) -> dict[str, Facts]:
    return _one_by_one("chalicelib.tasks.store.Task", ids, lambda t: {"name": t.title, "state": t.status})


def _jobs(ids: list[str]) -> dict[str, Facts]:
    from chalicelib.jobs.ledger import Job

    out: dict[str, Facts] = {}
    for j in Job.batch_get(ids, consistent_read=True):
        out[j.job_id] = {
            "name": j.type,
            "state": j.state,
            "stuck": j.stuck(),
            "attempts": int(j.attempts or 0),
            "last_error": j.to_dict()["last_error"],
            "finished_at": iso(j.finished_at),
            "updated_at": iso(j.updated_at),
        }
    return out


RESOLVERS: dict[str, Callable[[list[str]], dict[str, Facts]]] = {
    "student": _students,
    "schedule": _schedules,
    "homework": _homework,
    "video": _videos,
    "customer": _customers,
    "task": _tasks,
    "job": _jobs,
}


def _facts(refs: list[tuple[str, str]]) -> dict[tuple[str, str], Facts | None]:
    """(type, id) → its facts, None when it no longer exists; types nobody resolves are left out."""
    by_type: dict[str, list[str]] = {}
    for kind, ref_id in refs:
        by_type.setdefault(kind, [])
        if ref_id not in by_type[kind]:
            by_type[kind].append(ref_id)
    out: dict[tuple[str, str], Facts | None] = {}
    for kind, ids in by_type.items():
        resolve = RESOLVERS.get(kind)
        if resolve is None:
            continue
        found = resolve(ids)
        out.update({(kind, i): found.get(i) for i in ids})
    return out


def _with_state(links: list[store.IncidentLink]) -> list[dict[str, Any]]:
    refs = [("job" if lk.kind == JOB_LINK else lk.ref_type, lk.ref_id) for lk in links]
    facts = _facts(refs)
    items = []
    for lk, ref in zip(links, refs, strict=True):
        item = store.link_dict(lk)
        known = ref in facts
        found = facts.get(ref)
        item["exists"] = (found is not None) if known else None
        item["state"] = found
        item["console_path"] = domain.console_path(lk.kind, ref[0], lk.ref_id, found)
        items.append(item)
    return items


# --- reads -----------------------------------------------------------------------------------------


def group_links(group_id: str, kind: str | None, limit: int, next_token: str | None) -> dict[str, Any]:
    """A page of the jobs and entities a group's incidents named (key order: entities, then jobs), each with its state."""
    store.get_group(group_id)
    links, token = store.list_links(group_id, kind, limit, next_token)
    return {"items": _with_state(links), "next_token": token}


def verify(group_id: str) -> dict[str, Any]:
    """Whether the group is verified fixed: every job it named (≤ ``VERIFY_MAX_JOBS``) has since succeeded."""
    links, token = store.list_links(group_id, JOB_LINK, VERIFY_MAX_JOBS, None)
    found = _jobs([lk.ref_id for lk in links]) if links else {}
    jobs = [{"job_id": lk.ref_id, "first_seen": iso(lk.first_seen), **(found.get(lk.ref_id) or {"state": None})} for lk in links]
    return domain.verification(jobs, more=token is not None)


def search_by_entity(
    entity_type: str,
    entity_id: str,
    limit: int,
    next_token: str | None,
    keep: Callable[[store.IncidentGroup], bool] | None = None,
) -> dict[str, Any]:
    """Groups whose incidents named the entity, newest first sighting first (one index query and one
    BatchGetItem per page); ``keep`` narrows the page (it may then hold fewer than ``limit``)."""
    links, token = store.groups_naming(domain.entity_key(entity_type, entity_id), limit, next_token)
    groups = store.get_groups([lk.group_id for lk in links])
    items = []
    for lk in links:
        g = groups.get(lk.group_id)
        if g is not None and (keep is None or keep(g)):
            items.append({**store.group_dict(g), "entity_first_seen": iso(lk.first_seen)})
    return {"items": items, "next_token": token}


def job_incidents(job_id: str, limit: int, next_token: str | None) -> dict[str, Any]:
    """The stored incidents a job's failed runs filed, newest first, each with its group's title and status."""
    incidents, token = store.job_incidents(job_id, limit, next_token)
    groups = store.get_groups([i.group_id for i in incidents])
    items = []
    for i in incidents:
        g = groups.get(i.group_id)
        group = {"group_id": i.group_id, "title": g.title if g else None, "status": (g.status or "open") if g else None}
        items.append({**store.incident_dict(i), "group": group})
    return {"items": items, "next_token": token}


# --- retry these jobs ------------------------------------------------------------------------------


def retry_jobs(group_id: str, *, apply: bool, limit: int, next_token: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The group's failed jobs, one page of ``limit`` job links per call: listed (dry run, the default) or
    retried (``apply``). Returns (reply, what the audit log records)."""
    from chalicelib.operations import service as operations

    store.get_group(group_id)
    links, token = store.list_links(group_id, JOB_LINK, limit, next_token)
    jobs = operations.jobs_by_id([lk.ref_id for lk in links])
    failed = [j for j in jobs if j.state == "failed"]
    body: dict[str, Any] = {
        "dry_run": not apply,
        "examined": len(links),
        "matched": len(failed),
        "jobs": [j.to_dict() for j in failed],
        "next_token": token,
    }
    if apply:
        outcome = operations.retry_listed(failed)
        body.update(retried=outcome["retried"], skipped=outcome["skipped"], dead_letters_removed=outcome["dead_letters_removed"])
    audit = {
        "dry_run": not apply,
        "examined": len(links),
        "matched": len(failed),
        "retried": body.get("retried", []),
        "skipped": body.get("skipped", []),
        "more": token is not None,
    }
    return body, audit
