"""Students: the pynamodb model and its queries (no HTTP here)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, decode_token, gsi, meta, new_id, page, utcnow
from chalicelib.core.errors import NotFound

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


def create(customer_id: str, name: str, timezone: str = "UTC") -> Student:
    student = Student(id=new_id(), customer_id=customer_id, name=name, timezone=timezone, created_at=utcnow())
    student.save(condition=Student.id.does_not_exist())
    return student


def get(student_id: str) -> Student:
    try:
        return Student.get(student_id)
    except Student.DoesNotExist as exc:
        raise NotFound(
            f"Student {student_id} does not exist.", code="student_not_found", details={"student_id": student_id}
        ) from exc


def get_owned(student_id: str, customer_id: str) -> Student:
    """A customer's own student; someone else's is indistinguishable from a missing one (404)."""
    student = get(student_id)
    if student.customer_id != customer_id:
        raise NotFound(f"Student {student_id} does not exist.", code="student_not_found", details={"student_id": student_id})
    return student


def list_all(limit: int, next_token: str | None) -> tuple[list[Student], str | None]:
    it = Student.by_kind.query(KIND, limit=limit, page_size=limit, last_evaluated_key=decode_token(next_token))
    return page(it, limit)


def list_for_customer(customer_id: str, limit: int, next_token: str | None) -> tuple[list[Student], str | None]:
    it = Student.by_customer.query(customer_id, limit=limit, page_size=limit, last_evaluated_key=decode_token(next_token))
    return page(it, limit)
