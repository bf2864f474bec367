"""Admin > Academic and the customer's view of their students: HTTP routes (thin)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.academic import students
from chalicelib.core import audit
from chalicelib.core.api import LIST_QUERY, Req, route, schemas
from chalicelib.core.db import iso

bp = Blueprint(__name__)
S = schemas("chalicelib.academic.schemas")  # the models, imported on first use


StudentPage = S.page("StudentOut")


def student_out(s: students.Student) -> S.StudentOut:
    return S.StudentOut(id=s.id, customer_id=s.customer_id, name=s.name, timezone=s.timezone, created_at=iso(s.created_at))


@route(bp, "/admin/students", "POST", auth="admin", body=S.StudentIn, response=S.StudentOut, status=201, tag="students")
def create_student(req: Req) -> S.StudentOut:
    """Create a student for a customer."""
    body: S.StudentIn = req.body
    s = students.create(body.customer_id, body.name, body.timezone)
    audit.record(req.actor, "student.create", f"student:{s.id}", body.model_dump(), {"status": 201})
    return student_out(s)


@route(bp, "/admin/students", "GET", auth="admin", query=LIST_QUERY, response=StudentPage, tag="students")
def list_students(req: Req) -> dict:
    """List every student (creation order)."""
    items, token = students.list_all(req.query.limit, req.query.next_token)
    return {"items": [student_out(s).model_dump(mode="json") for s in items], "next_token": token}


@route(bp, "/admin/students/{student_id}", "GET", auth="admin", response=S.StudentOut, tag="students")
def get_student(req: Req, student_id: str) -> S.StudentOut:
    """Read one student."""
    return student_out(students.get(student_id))


@route(bp, "/customer/students", "GET", auth="customer", query=LIST_QUERY, response=StudentPage, tag="students")
def list_my_students(req: Req) -> dict:
    """The signed-in customer's own students."""
    items, token = students.list_for_customer(str(req.principal.id), req.query.limit, req.query.next_token)
    return {"items": [student_out(s).model_dump(mode="json") for s in items], "next_token": token}
