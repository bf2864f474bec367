"""Admin > Academic > Students and the customer's view of their own: HTTP routes (thin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.core.api import LIST_QUERY, Req, route, schemas
from chalicelib.core.db import iso
from chalicelib.students import store
from chalicelib.students.domain import prefix_key

if TYPE_CHECKING:
    from chalicelib.core.schema import ListQuery
    from chalicelib.students.schemas import StudentIn, StudentOut, StudentPatch, StudentQuery

bp = Blueprint(__name__)
S = schemas("chalicelib.students.schemas")  # the models, imported on first use


StudentPage = S.page("StudentOut")


def student_out(s: store.Student) -> StudentOut:
    out: StudentOut = S.StudentOut(
        id=s.id,
        customer_id=s.customer_id,
        name=s.name,
        timezone=s.timezone,
        notes=s.notes,
        active=s.active is not False,
        rev=int(s.rev or 0),
        created_at=iso(s.created_at),
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


@route(bp, "/admin/students", "GET", auth="admin", query=S.StudentQuery, response=StudentPage, tag="students")
def list_students(req: Req[None, StudentQuery]) -> dict[str, Any]:
    """List the active students (creation order); ``?q=`` searches them by name prefix (name order);
    ``?archived=true`` lists the archived ones instead."""
    if req.query.q is not None:
        items, token = store.search(prefix_key(req.query.q), req.query.limit, req.query.next_token)
    else:
        lister = store.list_archived if req.query.archived else store.list_all
        items, token = lister(req.query.limit, req.query.next_token)
    return {"items": [student_out(s).model_dump(mode="json") for s in items], "next_token": token}


@route(bp, "/admin/students/{student_id}", "GET", auth="admin", response=S.StudentOut, tag="students", ids=("student_id",))
def get_student(req: Req[None, None], student_id: str) -> StudentOut:
    """Read one student."""
    return student_out(store.get(student_id))


@route(
    bp,
    "/admin/students/{student_id}",
    "PATCH",
    auth="admin",
    body=S.StudentPatch,
    response=S.StudentOut,
    errors=(404, 409),
    tag="students",
    audit="student.update",
    ids=("student_id",),
)
def update_student(req: Req[StudentPatch, None], student_id: str) -> StudentOut:
    """Edit a student at the revision read (409 ``stale_revision`` otherwise); ``active: false`` archives it
    (it leaves the list and new schedules; its history stays), ``active: true`` restores it."""
    body = req.body
    changes = body.model_dump(include=body.model_fields_set - {"rev"})
    return student_out(store.update(student_id, body.rev, changes))


@route(bp, "/customer/students", "GET", auth="customer", query=LIST_QUERY, response=StudentPage, tag="students")
def list_my_students(req: Req[None, ListQuery]) -> dict[str, Any]:
    """The signed-in customer's own students."""
    items, token = store.list_for_customer(str(req.principal.id), req.query.limit, req.query.next_token)
    return {"items": [student_out(s).model_dump(mode="json") for s in items], "next_token": token}
