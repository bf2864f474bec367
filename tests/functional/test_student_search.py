"""Students: the name-prefix search (``GET /admin/students?q=``), served by the ``by_name`` index."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest


def post(client, path, token, body):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return client.http.post(path, headers=headers, body=json.dumps(body))


def patch(client, path, token, body):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return client.http.patch(path, headers=headers, body=json.dumps(body))


def get(client, path, token):
    return client.http.get(path, headers={"Authorization": f"Bearer {token}"})


def names(client, tokens, q, extra=""):
    r = get(client, f"/admin/students?q={quote(q)}{extra}", tokens.admin)
    assert r.status_code == 200, r.body
    return [s["name"] for s in r.json_body["items"]]


@pytest.fixture
def roster(client, tokens):
    made = {}
    for name in ("Ada Lovelace", "adam Smith", "ÁDÁM Kovács", "Bob Stone", "Adelaide  Hall"):
        r = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": name})
        assert r.status_code == 201, r.body
        made[name] = r.json_body
    return made


def test_prefix_match_ignores_case_and_is_in_name_order(client, tokens, roster):
    assert names(client, tokens, "ad") == ["Ada Lovelace", "adam Smith", "Adelaide  Hall"]
    assert names(client, tokens, "ADA") == ["Ada Lovelace", "adam Smith"]
    assert names(client, tokens, "ada ") == ["Ada Lovelace"]  # a trailing space ends the first name
    assert names(client, tokens, "adelaide hall") == ["Adelaide  Hall"]  # runs of spaces are one
    assert names(client, tokens, "ádám") == ["ÁDÁM Kovács"]
    assert names(client, tokens, "b") == ["Bob Stone"]


def test_no_match_is_an_empty_page(client, tokens, roster):
    r = get(client, "/admin/students?q=zz", tokens.admin)
    assert r.status_code == 200 and r.json_body == {"items": [], "next_token": None}


def test_archived_students_are_not_found_and_come_back_when_restored(client, tokens, roster):
    ada = roster["Ada Lovelace"]
    r = patch(client, f"/admin/students/{ada['id']}", tokens.admin, {"rev": 0, "active": False})
    assert r.status_code == 200
    assert names(client, tokens, "ada") == ["adam Smith"]
    r = patch(client, f"/admin/students/{ada['id']}", tokens.admin, {"rev": 1, "active": True})
    assert names(client, tokens, "ada") == ["Ada Lovelace", "adam Smith"]


def test_a_renamed_student_is_found_by_its_new_name_only(client, tokens, roster):
    bob = roster["Bob Stone"]
    assert patch(client, f"/admin/students/{bob['id']}", tokens.admin, {"rev": 0, "name": "Zed Stone"}).status_code == 200
    assert names(client, tokens, "bob") == []
    assert names(client, tokens, "zed") == ["Zed Stone"]
    # other edits keep the key
    assert patch(client, f"/admin/students/{bob['id']}", tokens.admin, {"rev": 1, "notes": "n"}).status_code == 200
    assert names(client, tokens, "zed s") == ["Zed Stone"]


def test_pagination_cursor_walks_the_matches(client, tokens):
    for i in range(5):
        post(client, "/admin/students", tokens.admin, {"customer_id": "c", "name": f"Sam {i}"})
    post(client, "/admin/students", tokens.admin, {"customer_id": "c", "name": "Other"})
    seen, token, pages = [], None, 0
    while True:
        page = get(client, "/admin/students?q=sam&limit=2" + (f"&next_token={token}" if token else ""), tokens.admin)
        assert page.status_code == 200, page.body
        seen += [s["name"] for s in page.json_body["items"]]
        token, pages = page.json_body["next_token"], pages + 1
        if not token:
            break
    assert seen == [f"Sam {i}" for i in range(5)] and pages == 3


def test_a_cursor_is_bound_to_its_query(client, tokens):
    for i in range(3):
        post(client, "/admin/students", tokens.admin, {"customer_id": "c", "name": f"Sam {i}"})
    token = get(client, "/admin/students?q=sam&limit=1", tokens.admin).json_body["next_token"]
    assert token
    r = get(client, f"/admin/students?q=sa&limit=1&next_token={token}", tokens.admin)
    assert r.status_code == 400, r.body


@pytest.mark.parametrize("query", ["q=", "q=%20%20", "q=" + "a" * 101, "q=ada&archived=true"])
def test_bad_q_is_400(client, tokens, query):
    r = get(client, f"/admin/students?{query}", tokens.admin)
    assert r.status_code == 400, r.body
    assert "query.q" in r.body.decode() or "q" in r.json_body["error"]["message"]


def test_search_is_admin_only(client, tokens):
    assert get(client, "/admin/students?q=a", tokens.customer_a).status_code == 403


def test_legacy_rows_without_a_key_get_one_when_listed(client, tokens, roster):
    from chalicelib.students.store import Student

    ada = roster["Ada Lovelace"]
    Student(id=ada["id"]).update(actions=[Student.name_key.remove()])  # as rows written before the search
    assert names(client, tokens, "ada") == ["adam Smith"]
    listed = get(client, "/admin/students", tokens.admin).json_body["items"]  # the list gives it its key
    assert ada["id"] in [s["id"] for s in listed]
    assert names(client, tokens, "ada") == ["Ada Lovelace", "adam Smith"]
    again = get(client, f"/admin/students/{ada['id']}", tokens.admin).json_body
    assert again["rev"] == ada["rev"]  # not an edit: no new revision
