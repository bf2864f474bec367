"""Students: the pynamodb model and its queries (no HTTP here)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, gsi, meta, new_id, query_page, utcnow
from chalicelib.core.errors import Missing

KIND = "student"


class Student(Model):
    Meta = meta("students")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=KIND)
    customer_id = UnicodeAttribute()
    name = UnicodeAttribute()
    timezone = UnicodeAttribute(default="UTC")
    created_at = UTCDateTime()
    by_customer = gsi("by_customer", "customer_id", "id")
    by_kind = gsi("by_kind", "kind", "id")


def _not_found(student_id: str) -> Missing:
    return Missing(f"Student {student_id} does not exist.", code="student_not_found", details={"student_id": student_id})


def create(customer_id: str, name: str, timezone: str = "UTC") -> Student:
    student = Student(id=new_id(), customer_id=customer_id, name=name, timezone=timezone, created_at=utcnow())
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
    return {s.id for s in Student.batch_get(student_ids, attributes_to_get=["id"])}


def list_all(limit: int, next_token: str | None) -> tuple[list[Student], str | None]:
    return query_page(Student.by_kind.query, KIND, limit=limit, next_token=next_token)


def list_for_customer(customer_id: str, limit: int, next_token: str | None) -> tuple[list[Student], str | None]:
    return query_page(Student.by_customer.query, customer_id, limit=limit, next_token=next_token)
