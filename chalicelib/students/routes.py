"""Admin > Academic > Students and the customer's view of their own: HTTP routes (thin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.core.api import LIST_QUERY, Req, route, schemas
from chalicelib.core.db import iso
from chalicelib.students import store

if TYPE_CHECKING:
    from chalicelib.core.schema import ListQuery
    from chalicelib.students.schemas import StudentIn, StudentOut

bp = Blueprint(__name__)
S = schemas("chalicelib.students.schemas")  # the models, imported on first use


StudentPage = S.page("StudentOut")


def student_out(s: store.Student) -> StudentOut:
    out: StudentOut = S.StudentOut(
        id=s.id, customer_id=s.customer_id, name=s.name, timezone=s.timezone, created_at=iso(s.created_at)
    )
    return out


@route(
    bp,
    "/admin/students",
    "POST",
    auth="admin",
    body=S.StudentIn,
    response=S.StudentOut,
    status=201,
    tag="students",
    audit="student.create",
)
def create_student(req: Req[StudentIn, None]) -> StudentOut:
    """Create a student for a customer."""
    body = req.body
    s = store.create(body.customer_id, body.name, body.timezone)
    if req.audit is not None:
        req.audit.target = f"student:{s.id}"
    return student_out(s)


@route(bp, "/admin/students", "GET", auth="admin", query=LIST_QUERY, response=StudentPage, tag="students")
def list_students(req: Req[None, ListQuery]) -> dict[str, Any]:
    """List every student (creation order)."""
    items, token = store.list_all(req.query.limit, req.query.next_token)
    return {"items": [student_out(s).model_dump(mode="json") for s in items], "next_token": token}


@route(bp, "/admin/students/{student_id}", "GET", auth="admin", response=S.StudentOut, tag="students", ids=("student_id",))
def get_student(req: Req[None, None], student_id: str) -> StudentOut:
    """Read one student."""
    return student_out(store.get(student_id))


@route(bp, "/customer/students", "GET", auth="customer", query=LIST_QUERY, response=StudentPage, tag="students")
def list_my_students(req: Req[None, ListQuery]) -> dict[str, Any]:
    """The signed-in customer's own students."""
    items, token = store.list_for_customer(str(req.principal.id), req.query.limit, req.query.next_token)
    return {"items": [student_out(s).model_dump(mode="json") for s in items], "next_token": token}
