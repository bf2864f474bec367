"""Customers (the families): records keyed by the sign-in identity's customer id, with their students."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest


def call(client, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    raw = None if body is None else (body if isinstance(body, (str, bytes)) else json.dumps(body))
    return client.http.request(method, path, headers=headers, body=raw)


A = {"customer_id": "cust-a", "display_name": "The Lovelaces", "contact_email": "ada@Example.COM"}


@pytest.fixture
def family(client, tokens):
    r = call(client, "POST", "/admin/customers", tokens.admin, A)
    assert r.status_code == 201, r.body
    return r.json_body


def test_create_and_read(client, tokens, family):
    assert family["customer_id"] == "cust-a" and family["display_name"] == "The Lovelaces"
    assert family["contact_email"] == "ada@example.com"  # the domain is lower-cased
    assert family["rev"] == 0 and family["created_at"].endswith("Z")
    r = call(client, "GET", "/admin/customers/cust-a", tokens.admin)
    assert r.status_code == 200 and r.json_body == family


def test_create_is_idempotent_on_customer_id(client, tokens, family):
    again = call(client, "POST", "/admin/customers", tokens.admin, A)
    assert again.status_code == 200 and again.json_body == family
    other = call(client, "POST", "/admin/customers", tokens.admin, {**A, "display_name": "Someone else"})
    assert other.status_code == 409, other.body
    err = other.json_body["error"]
    assert err["code"] == "customer_exists" and err["details"]["differs"] == ["display_name"]
    assert call(client, "GET", "/admin/customers/cust-a", tokens.admin).json_body == family  # nothing changed
    listed = call(client, "GET", "/admin/customers", tokens.admin).json_body["items"]
    assert listed == [family]


def test_concurrent_creates_make_one_record(client, tokens):
    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(lambda _: call(client, "POST", "/admin/customers", tokens.admin, A).status_code, range(4)))
    assert codes == [200, 200, 200, 201]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**A, "contact_email": "not-an-email"}, "contact_email"),
        ({**A, "contact_email": "a@b"}, "contact_email"),
        ({**A, "contact_email": "a..b@example.com"}, "contact_email"),
        ({**A, "contact_email": "a@exa mple.com"}, "contact_email"),
        ({**A, "contact_email": "a@example.123"}, "contact_email"),
        ({**A, "contact_email": ("x" * 65) + "@example.com"}, "contact_email"),
        ({**A, "contact_email": 5}, "contact_email"),
        ({**A, "display_name": ""}, "display_name"),
        ({**A, "display_name": "x" * 201}, "display_name"),
        ({**A, "customer_id": "has space"}, "customer_id"),
        ({**A, "customer_id": ""}, "customer_id"),
        ({k: v for k, v in A.items() if k != "contact_email"}, "contact_email"),
        ({**A, "extra": 1}, "extra"),
    ],
)
def test_bad_create_is_400_naming_the_field(client, tokens, body, field):
    r = call(client, "POST", "/admin/customers", tokens.admin, body)
    assert r.status_code == 400, r.body
    assert any(k.endswith(field) for k in r.json_body["error"]["details"]["fields"]), r.body
    assert call(client, "GET", "/admin/customers", tokens.admin).json_body["items"] == []


def test_unknown_or_malformed_customer_is_404(client, tokens):
    for path in ("/admin/customers/nobody", "/admin/customers/nobody/students", "/admin/customers/bad%20id"):
        r = call(client, "GET", path, tokens.admin)
        assert r.status_code == 404 and r.json_body["error"]["code"] == "customer_not_found", (path, r.body)
    r = call(client, "PATCH", "/admin/customers/nobody", tokens.admin, {"rev": 0, "display_name": "X"})
    assert r.status_code == 404 and r.json_body["error"]["code"] == "customer_not_found"


def test_patch_at_the_revision_read(client, tokens, family):
    r = call(client, "PATCH", "/admin/customers/cust-a", tokens.admin, {"rev": 0, "contact_email": "mum@example.org"})
    assert r.status_code == 200, r.body
    assert r.json_body["rev"] == 1 and r.json_body["contact_email"] == "mum@example.org"
    assert r.json_body["display_name"] == "The Lovelaces"
    stale = call(client, "PATCH", "/admin/customers/cust-a", tokens.admin, {"rev": 0, "display_name": "Late"})
    assert stale.status_code == 409
    assert stale.json_body["error"]["code"] == "stale_revision"
    assert stale.json_body["error"]["details"] == {"customer_id": "cust-a", "rev": 0, "current_rev": 1}
    assert call(client, "GET", "/admin/customers/cust-a", tokens.admin).json_body["display_name"] == "The Lovelaces"


def test_concurrent_patches_at_one_revision_one_wins(client, tokens, family):
    def save(name):
        r = call(client, "PATCH", "/admin/customers/cust-a", tokens.admin, {"rev": 0, "display_name": name})
        return str(r.status_code) if r.status_code != 200 else name

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(save, ["First", "Second"]))
    assert outcomes[0] == "409" and outcomes[1] in ("First", "Second")
    now = call(client, "GET", "/admin/customers/cust-a", tokens.admin).json_body
    assert now["rev"] == 1 and now["display_name"] == outcomes[1]


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": "No rev"},
        {"rev": 0},
        {"rev": -1, "display_name": "X"},
        {"rev": "0", "display_name": "X"},
        {"rev": 0, "display_name": None},
        {"rev": 0, "contact_email": "nope"},
        {"rev": 0, "customer_id": "cust-z"},
    ],
)
def test_bad_patch_is_400_and_changes_nothing(client, tokens, family, body):
    r = call(client, "PATCH", "/admin/customers/cust-a", tokens.admin, body)
    assert r.status_code == 400, r.body
    assert call(client, "GET", "/admin/customers/cust-a", tokens.admin).json_body == family


def test_list_is_paginated(client, tokens):
    ids = [f"cust-{i}" for i in range(5)]
    for cid in ids:
        body = {"customer_id": cid, "display_name": f"Family {cid}", "contact_email": f"{cid}@example.com"}
        assert call(client, "POST", "/admin/customers", tokens.admin, body).status_code == 201
    seen, token = [], None
    while True:
        page = call(client, "GET", "/admin/customers?limit=2" + (f"&next_token={token}" if token else ""), tokens.admin)
        assert page.status_code == 200, page.body
        seen += [c["customer_id"] for c in page.json_body["items"]]
        token = page.json_body["next_token"]
        if not token:
            break
    assert seen == ids
    assert call(client, "GET", "/admin/customers?limit=0", tokens.admin).status_code == 400
    assert call(client, "GET", "/admin/customers?next_token=%%%", tokens.admin).status_code == 400


def test_a_familys_students_active_and_archived(client, tokens, family):
    made = [
        call(client, "POST", "/admin/students", tokens.admin, {"customer_id": cid, "name": name}).json_body
        for cid, name in (("cust-a", "Ada"), ("cust-b", "Bob"), ("cust-a", "Byron"))
    ]
    call(client, "PATCH", f"/admin/students/{made[2]['id']}", tokens.admin, {"rev": 0, "active": False})
    r = call(client, "GET", "/admin/customers/cust-a/students", tokens.admin)
    assert r.status_code == 200, r.body
    got = {s["name"]: s["active"] for s in r.json_body["items"]}
    assert got == {"Ada": True, "Byron": False}
    page = call(client, "GET", "/admin/customers/cust-a/students?limit=1", tokens.admin).json_body
    assert len(page["items"]) == 1 and page["next_token"]
    rest = call(client, "GET", f"/admin/customers/cust-a/students?limit=1&next_token={page['next_token']}", tokens.admin)
    assert len(rest.json_body["items"]) == 1 and rest.json_body["items"] != page["items"]


def test_customer_profile_is_their_own_record(client, tokens, family):
    r = call(client, "GET", "/customer/profile", tokens.customer_a)
    assert r.status_code == 200 and r.json_body == family
    r = call(client, "GET", "/customer/profile", tokens.customer_b)
    assert r.status_code == 404 and r.json_body["error"]["code"] == "customer_not_found"
    assert "cust-a" not in r.body.decode() and "Lovelace" not in r.body.decode()


def test_admin_routes_refuse_customers_and_profile_refuses_admins(client, tokens, family):
    for method, path in (
        ("GET", "/admin/customers"),
        ("GET", "/admin/customers/cust-a"),
        ("GET", "/admin/customers/cust-a/students"),
    ):
        assert call(client, method, path, tokens.customer_a).status_code == 403
    assert call(client, "POST", "/admin/customers", tokens.customer_a, A).status_code == 403
    assert call(client, "PATCH", "/admin/customers/cust-a", tokens.customer_a, {"rev": 0, "display_name": "X"}).status_code == 403
    assert call(client, "GET", "/customer/profile", tokens.admin).status_code == 403
    assert call(client, "GET", "/customer/profile", None).status_code == 401


def test_writes_are_audited(client, tokens, family):
    call(client, "POST", "/admin/customers", tokens.admin, A)
    call(client, "PATCH", "/admin/customers/cust-a", tokens.admin, {"rev": 0, "display_name": "Renamed"})
    entries = call(client, "GET", "/admin/audit", tokens.admin).json_body["items"]
    mine = [(e["action"], e["target"]) for e in entries if e["action"].startswith("customer.")]
    assert mine[:3] == [
        ("customer.update", "customer:cust-a"),
        ("customer.create", "customer:cust-a"),
        ("customer.create", "customer:cust-a"),
    ]
    created = [e["result"].get("created") for e in entries if e["action"] == "customer.create"]
    assert created == [False, True]
