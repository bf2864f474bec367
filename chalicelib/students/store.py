"""Students: the pynamodb model and its queries (no HTTP here).

Archive instead of delete: an archived student keeps its row (and so its homework, videos and
attendance) but loses ``kind``, so it leaves the ``by_kind`` list (and the ``by_name`` search) at once,
and gains ``archived_kind``, so the sparse ``by_archived`` index lists exactly the archived ones. Every edit is one conditional
UpdateItem on the ``rev`` the admin read (a stale one is 409 ``stale_revision``).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, gsi, meta, new_id, query_page, transition, utcnow
from chalicelib.core.errors import Missing, stale_revision
from chalicelib.students.domain import name_key

KIND = "student"


class Student(Model):
    Meta = meta("students")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(null=True, default=KIND)
    archived_kind = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute()
    name = UnicodeAttribute()
    name_key = UnicodeAttribute(null=True)  # domain.name_key(name); rows written before it have none (see backfill)
    timezone = UnicodeAttribute(default="UTC")
    notes = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    rev = NumberAttribute(default=0)
    created_at = UTCDateTime()
    by_customer = gsi("by_customer", "customer_id", "id")
    by_kind = gsi("by_kind", "kind", "id")  # sparse: live students only
    by_archived = gsi("by_archived", "archived_kind", "id")  # sparse: archived students only
    by_name = gsi("by_name", "kind", "name_key")  # live students by name key: the prefix search (begins_with)


def _not_found(student_id: str) -> Missing:
    return Missing(f"Student {student_id} does not exist.", code="student_not_found", details={"student_id": student_id})


def create(customer_id: str, name: str, timezone: str = "UTC") -> Student:
    student = Student(
        id=new_id(), customer_id=customer_id, name=name, name_key=name_key(name), timezone=timezone, created_at=utcnow()
    )
    student.save(condition=Student.id.does_not_exist())
    return student


def find(student_id: str) -> Student | None:
    try:
        return Student.get(student_id)
    except Student.DoesNotExist:
        return None


def get(student_id: str) -> Student:
    student = find(student_id)
    if student is None:
        raise _not_found(student_id)
    return student


def get_owned(student_id: str, customer_id: str) -> Student:
    """A customer's own student; someone else's is indistinguishable from a missing one (404)."""
    student = get(student_id)
    if student.customer_id != customer_id:
        raise _not_found(student_id)
    return student


def existing_ids(student_ids: list[str]) -> set[str]:
    """Which of ``student_ids`` exist (one batch read of the keys)."""
    return set(active_by_id(student_ids))


def active_by_id(student_ids: list[str]) -> dict[str, bool]:
    """Each existing student of ``student_ids`` → whether it is active (one batch read)."""
    return {s.id: s.active is not False for s in Student.batch_get(student_ids, attributes_to_get=["id", "active"])}


def list_all(limit: int, next_token: str | None) -> tuple[list[Student], str | None]:
    items, token = query_page(Student.by_kind.query, KIND, limit=limit, next_token=next_token)
    for student in items:
        if student.name_key is None:
            backfill_name_key(student)
    return items, token


def search(prefix: str, limit: int, next_token: str | None) -> tuple[list[Student], str | None]:
    """Live students whose name key begins with ``prefix`` (a :func:`domain.prefix_key`), in name order:
    one Query of the ``by_name`` index, never a scan. Archived students have no ``kind``, so they are not in it."""
    return query_page(
        Student.by_name.query,
        KIND,
        range_key_condition=Student.name_key.startswith(prefix),
        limit=limit,
        next_token=next_token,
    )


def backfill_name_key(student: Student) -> bool:
    """Give a row written before ``name_key`` existed its key (so the search finds it), without a new
    revision: it is not an edit. Only while the name is still the one read and the key still missing;
    False when the row moved on (an edit then sets the key itself)."""
    key = name_key(student.name)
    cond = Student.id.exists() & Student.name_key.does_not_exist() & (Student.name == student.name)
    if transition(Student(id=student.id), [Student.name_key.set(key)], condition=cond):
        student.name_key = key
        return True
    return False


def list_for_customer(customer_id: str, limit: int, next_token: str | None) -> tuple[list[Student], str | None]:
    return query_page(Student.by_customer.query, customer_id, limit=limit, next_token=next_token)


def list_archived(limit: int, next_token: str | None) -> tuple[list[Student], str | None]:
    return query_page(Student.by_archived.query, KIND, limit=limit, next_token=next_token)


def update(student_id: str, rev: int, changes: dict[str, Any]) -> Student:
    """Apply ``changes`` (name, timezone, notes, active) at ``rev``: one conditional UpdateItem.

    Unknown → 404; changed since the admin read it → 409 ``stale_revision`` {rev, current_rev}.
    Rows written before ``rev`` existed have none: they are at revision 0.
    """
    student = Student(id=student_id)  # no read first: the condition decides, and a refusal reads once to say why
    actions: list[Any] = [Student.rev.add(1)]
    for field in ("name", "timezone"):
        if field in changes:
            actions.append(getattr(Student, field).set(changes[field]))
    if "name" in changes:
        actions.append(Student.name_key.set(name_key(changes["name"])))
    if "notes" in changes:
        notes = changes["notes"]
        actions.append(Student.notes.set(notes) if notes else Student.notes.remove())
    if "active" in changes:
        active = bool(changes["active"])
        actions.append(Student.active.set(active))
        if active:
            actions += [Student.kind.set(KIND), Student.archived_kind.remove()]
        else:
            actions += [Student.kind.remove(), Student.archived_kind.set(KIND)]
    at_rev = Student.rev == rev
    if rev == 0:
        at_rev = at_rev | Student.rev.does_not_exist()
    if not transition(student, actions, condition=Student.id.exists() & at_rev):
        current = get(student_id)  # 404 when it does not exist
        raise stale_revision("Student", student_id, rev, int(current.rev or 0))
    return student
