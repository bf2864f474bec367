"""Admin > Academic > Families (customers) and the customer's own profile: HTTP routes (thin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.core.api import LIST_QUERY, Audit, Reply, Req, route, schemas
from chalicelib.core.db import iso
from chalicelib.customers import service, store
from chalicelib.students.routes import StudentPage, student_out

if TYPE_CHECKING:
    from chalicelib.core.schema import ListQuery
    from chalicelib.customers.schemas import CustomerIn, CustomerOut, CustomerPatch

bp = Blueprint(__name__)
S = schemas("chalicelib.customers.schemas")  # the models, imported on first use

CustomerPage = S.page("CustomerOut")


def customer_out(c: store.Customer) -> CustomerOut:
    out: CustomerOut = S.CustomerOut(
        customer_id=c.customer_id,
        display_name=c.display_name,
        contact_email=c.contact_email,
        rev=int(c.rev or 0),
        created_at=iso(c.created_at),
    )
    return out


@route(
    bp,
    "/admin/customers",
    "POST",
    auth="admin",
    body=S.CustomerIn,
    response=S.CustomerOut,
    status=201,
    also={200: S.CustomerOut},
    errors=(409,),
    tag="customers",
    audit="customer.create",
)
def create_customer(req: Req[CustomerIn, None]) -> Reply:
    """Create a customer's (family's) record: 201; the same request again → 200 with the record; other
    fields for an existing customer_id → 409 ``customer_exists`` (edit it with PATCH)."""
    body = req.body
    customer, created = service.create(body.customer_id, body.display_name, body.contact_email)
    if req.audit is not None:
        req.audit.target = f"customer:{customer.customer_id}"
        req.audit.result["created"] = created
    return Reply(customer_out(customer).model_dump(mode="json"), status=201 if created else 200)


@route(bp, "/admin/customers", "GET", auth="admin", query=LIST_QUERY, response=CustomerPage, tag="customers")
def list_customers(req: Req[None, ListQuery]) -> dict[str, Any]:
    """List the customers (families), in customer id order."""
    items, token = store.list_all(req.query.limit, req.query.next_token)
    return {"items": [customer_out(c).model_dump(mode="json") for c in items], "next_token": token}


@route(bp, "/admin/customers/{customer_id}", "GET", auth="admin", response=S.CustomerOut, tag="customers", ids=("customer_id",))
def get_customer(req: Req[None, None], customer_id: str) -> CustomerOut:
    """Read one customer's record."""
    return customer_out(store.get(customer_id))


@route(
    bp,
    "/admin/customers/{customer_id}",
    "PATCH",
    auth="admin",
    body=S.CustomerPatch,
    response=S.CustomerOut,
    errors=(404, 409),
    tag="customers",
    audit=Audit("customer.update", target="customer:{customer_id}"),
    ids=("customer_id",),
)
def update_customer(req: Req[CustomerPatch, None], customer_id: str) -> CustomerOut:
    """Edit a customer's display name or contact email at the revision read (409 ``stale_revision`` otherwise)."""
    body = req.body
    changes = body.model_dump(include=body.model_fields_set - {"rev"})
    return customer_out(store.update(customer_id, body.rev, changes))


@route(
    bp,
    "/admin/customers/{customer_id}/students",
    "GET",
    auth="admin",
    query=LIST_QUERY,
    response=StudentPage,
    tag="customers",
    ids=("customer_id",),
)
def list_customer_students(req: Req[None, ListQuery], customer_id: str) -> dict[str, Any]:
    """A customer's students, active and archived (``active`` says which), by the students' customer index."""
    items, token = service.students_of(customer_id, req.query.limit, req.query.next_token)
    return {"items": [student_out(s).model_dump(mode="json") for s in items], "next_token": token}


@route(bp, "/customer/profile", "GET", auth="customer", response=S.CustomerOut, tag="customers")
def my_profile(req: Req[None, None]) -> CustomerOut:
    """The signed-in customer's own record (404 ``customer_not_found`` until an admin creates it)."""
    return customer_out(store.get(str(req.principal.id)))
