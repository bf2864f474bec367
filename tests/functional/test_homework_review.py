"""Homework review (issue 17): an admin lists, opens and reviews submitted homework; the customer sees it.

POST /admin/homework/{id}/review at the rev read (stale → 409), only once the file is uploaded, with a
bounded history; GET /admin/homework filters (student, status, dates) with unreviewed first and a cursor
across the phases, by index queries only; GET .../file: a short-lived presigned GET (inline for PDF and
images, an attachment otherwise), the customer's own only.
"""

from __future__ import annotations

import time
import urllib.parse

import pytest
import requests

from tests.media_support import get, post, upload_form

PDF = b"%PDF-1.4\n" + b"x" * 100
TXT = b"my essay, as plain text\n" * 4


@pytest.fixture
def student(client, tokens):
    return post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]


def submit(client, tokens, student, data=PDF, filename="essay.pdf", content_type="application/pdf", complete=True):
    body = {"student_id": student, "filename": filename, "content_type": content_type, "size_bytes": len(data)}
    r = post(client, "/customer/homework", tokens.customer_a, body)
    assert r.status_code == 201, r.body
    hw, upload = r.json_body["homework"], r.json_body["upload"]
    if not complete:
        return hw
    assert upload_form(upload, data) in (200, 204)
    done = post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_a)
    assert done.status_code == 200, done.body
    return done.json_body


def review(client, tokens, hw_id, feedback, rev):
    return post(client, f"/admin/homework/{hw_id}/review", tokens.admin, {"feedback": feedback, "rev": rev})


def test_review_round_trip_with_history_seen_by_the_customer(client, tokens, student, aws):
    hw = submit(client, tokens, student)
    assert hw["status"] == "uploaded" and hw["reviews"] == [] and hw["feedback"] is None
    first = review(client, tokens, hw["id"], "Good structure; cite your sources.", hw["rev"])
    assert first.status_code == 200, first.body
    body = first.json_body
    assert body["status"] == "reviewed" and body["feedback"] == "Good structure; cite your sources."
    assert body["rev"] == hw["rev"] + 1 and body["reviewed_at"].endswith("Z")
    assert [(r["feedback"], r["reviewer"]) for r in body["reviews"]] == [("Good structure; cite your sources.", "admin-1")]

    stale = review(client, tokens, hw["id"], "Again", hw["rev"])  # the rev before the first review
    assert stale.status_code == 409 and stale.json_body["error"]["code"] == "stale_revision"
    assert stale.json_body["error"]["details"]["current_rev"] == body["rev"]

    again = review(client, tokens, hw["id"], "Sources added: well done.", body["rev"])
    assert again.status_code == 200
    assert [r["feedback"] for r in again.json_body["reviews"]] == [
        "Good structure; cite your sources.",
        "Sources added: well done.",
    ]

    mine = get(client, f"/customer/homework/{hw['id']}", tokens.customer_a).json_body
    assert mine["status"] == "reviewed" and mine["feedback"] == "Sources added: well done." and len(mine["reviews"]) == 2
    listed = get(client, "/customer/homework", tokens.customer_a).json_body["items"]
    assert listed[0]["feedback"] == "Sources added: well done."
    # a repeated complete after the review changes nothing
    assert post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_a).json_body["status"] == "reviewed"

    audit = get(client, "/admin/audit?action=homework.review", tokens.admin).json_body["items"]
    assert len(audit) == 3 and {a["target"] for a in audit} == {f"homework:{hw['id']}"}


def test_review_refuses_bad_input_and_unsubmitted_homework(client, tokens, student, aws):
    waiting = submit(client, tokens, student, complete=False)
    r = review(client, tokens, waiting["id"], "Nothing to read yet", 0)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "homework_not_uploaded"
    r = review(client, tokens, "01JZZZZZZZZZZZZZZZZZZZZZZZ", "x", 0)
    assert r.status_code == 404 and r.json_body["error"]["code"] == "homework_not_found"
    hw = submit(client, tokens, student)
    for bad in (
        {"feedback": "", "rev": hw["rev"]},
        {"feedback": "   ", "rev": hw["rev"]},
        {"feedback": "x" * 4001, "rev": hw["rev"]},
        {"feedback": "ok", "rev": "1"},
        {"feedback": "ok", "rev": -1},
        {"feedback": "ok"},
        {"rev": hw["rev"]},
        {"feedback": "ok", "rev": hw["rev"], "status": "uploaded"},
    ):
        r = post(client, f"/admin/homework/{hw['id']}/review", tokens.admin, bad)
        assert r.status_code == 400, (bad, r.status_code, r.body)
    assert review(client, tokens, hw["id"], "x" * 4000, hw["rev"]).status_code == 200
    assert post(client, f"/admin/homework/{hw['id']}/review", tokens.customer_a, {"feedback": "x", "rev": 1}).status_code == 403


def test_history_is_bounded(client, tokens, student, aws):
    from chalicelib.media import domain

    hw = submit(client, tokens, student)
    rev = hw["rev"]
    for i in range(domain.MAX_REVIEWS + 3):
        r = review(client, tokens, hw["id"], f"review {i}", rev)
        assert r.status_code == 200
        rev = r.json_body["rev"]
    kept = r.json_body["reviews"]
    assert len(kept) == domain.MAX_REVIEWS and kept[-1]["feedback"] == f"review {domain.MAX_REVIEWS + 2}"
    assert kept[0]["feedback"] == "review 3"


def test_two_admins_reviewing_at_one_revision_one_wins(client, tokens, student, aws):
    import threading

    hw = submit(client, tokens, student)
    results = []
    barrier = threading.Barrier(2)

    def go(text):
        barrier.wait()
        results.append(review(client, tokens, hw["id"], text, hw["rev"]).status_code)

    threads = [threading.Thread(target=go, args=(t,)) for t in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    assert len(get(client, f"/admin/homework/{hw['id']}", tokens.admin).json_body["reviews"]) == 1


def test_admin_list_unreviewed_first_filters_and_cursor(client, tokens, student, aws, monkeypatch):
    other = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Eve"}).json_body["id"]
    a1 = submit(client, tokens, student)
    a2 = submit(client, tokens, student)
    waiting = submit(client, tokens, student, complete=False)
    b1 = submit(client, tokens, other)
    assert review(client, tokens, a1["id"], "fine", a1["rev"]).status_code == 200
    from chalicelib.media.store import Homework

    def no_scan(*a, **k):
        raise AssertionError("the homework list must not scan")

    monkeypatch.setattr(Homework, "scan", no_scan)
    ids = lambda r: [h["id"] for h in r.json_body["items"]]  # noqa: E731
    everything = get(client, "/admin/homework", tokens.admin)
    assert everything.status_code == 200
    assert ids(everything) == [b1["id"], a2["id"], a1["id"], waiting["id"]]  # unreviewed newest first, reviewed, awaiting

    seen, token = [], None
    for _ in range(10):  # one item per page: the cursor carries the phase across
        q = "/admin/homework?limit=1" + (f"&next_token={token}" if token else "")
        r = get(client, q, tokens.admin)
        assert r.status_code == 200, r.body
        seen += ids(r)
        token = r.json_body["next_token"]
        if not token:
            break
    assert seen == ids(everything)

    assert ids(get(client, "/admin/homework?status=reviewed", tokens.admin)) == [a1["id"]]
    assert ids(get(client, "/admin/homework?status=uploaded", tokens.admin)) == [b1["id"], a2["id"]]
    assert ids(get(client, f"/admin/homework?student_id={student}", tokens.admin)) == [a2["id"], a1["id"], waiting["id"]]
    assert ids(get(client, f"/admin/homework?student_id={student}&status=uploaded", tokens.admin)) == [a2["id"]]
    page = get(client, f"/admin/homework?student_id={student}&limit=2", tokens.admin).json_body
    rest = get(client, f"/admin/homework?student_id={student}&limit=2&next_token={page['next_token']}", tokens.admin)
    assert [h["id"] for h in page["items"]] + ids(rest) == [a2["id"], a1["id"], waiting["id"]]

    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    yesterday, tomorrow = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()
    assert len(ids(get(client, f"/admin/homework?from={today.isoformat()}&to={today.isoformat()}", tokens.admin))) == 4
    assert ids(get(client, f"/admin/homework?from={tomorrow}", tokens.admin)) == []
    assert ids(get(client, f"/admin/homework?to={yesterday}", tokens.admin)) == []
    assert ids(get(client, f"/admin/homework?from={today.isoformat()}&status=reviewed", tokens.admin)) == [a1["id"]]
    for bad in ("status=done", "from=2026-13-01", "to=yesterday", f"from={tomorrow}&to={yesterday}", "student_id=../x"):
        r = get(client, f"/admin/homework?{bad}", tokens.admin)
        assert r.status_code == 400, (bad, r.status_code, r.body)


@pytest.mark.parametrize(
    ("data", "filename", "ctype", "disposition"),
    [(PDF, "essay.pdf", "application/pdf", "inline"), (TXT, "essay.txt", "text/plain", "attachment")],
    ids=["pdf-inline", "txt-attachment"],
)
def test_file_link_is_short_lived_inline_or_attachment_and_own_only(
    client, tokens, student, aws, data, filename, ctype, disposition
):
    hw = submit(client, tokens, student, data=data, filename=filename, content_type=ctype)
    for path, token in (
        (f"/admin/homework/{hw['id']}/file", tokens.admin),
        (f"/customer/homework/{hw['id']}/file", tokens.customer_a),
    ):
        r = get(client, path, token)
        assert r.status_code == 200, r.body
        link = r.json_body
        assert link["disposition"] == disposition and link["content_type"] == ctype and link["filename"] == filename
        assert 0 < link["expires_in"] <= 300
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link["url"]).query))
        expires = int(query["Expires"]) - int(time.time()) if "Expires" in query else int(query["X-Amz-Expires"])
        assert expires <= 300
        got = requests.get(link["url"], timeout=30)
        assert got.status_code == 200 and got.content == data
        assert got.headers["Content-Disposition"] == f'{disposition}; filename="{filename}"'
        assert got.headers["Content-Type"] == ctype
    assert get(client, f"/customer/homework/{hw['id']}/file", tokens.customer_b).status_code == 404
    waiting = submit(client, tokens, student, complete=False)
    for path, token in (
        (f"/admin/homework/{waiting['id']}/file", tokens.admin),
        (f"/customer/homework/{waiting['id']}/file", tokens.customer_a),
    ):
        r = get(client, path, token)
        assert r.status_code == 409 and r.json_body["error"]["code"] == "homework_not_uploaded"
    assert get(client, "/admin/homework/01JZZZZZZZZZZZZZZZZZZZZZZZ/file", tokens.admin).status_code == 404


def test_date_ranges_outside_the_ulid_era_are_empty_not_errors(client, tokens, student, aws):
    submit(client, tokens, student)
    for q in ("to=0363-04-15", "from=0001-01-01&to=1969-12-31", "from=9999-12-31", "from=0001-01-01"):
        r = get(client, f"/admin/homework?{q}", tokens.admin)
        assert r.status_code == 200, (q, r.body)
        assert len(r.json_body["items"]) == (1 if q == "from=0001-01-01" else 0), q


def test_ulid_bounds_are_the_ids_of_the_range():
    from chalicelib.core.db import new_id
    from chalicelib.media import domain

    now = new_id()
    lo, hi = domain.ulid_bounds(0, None)
    assert lo <= now <= hi
    ms = int(__import__("time").time() * 1000)
    lo, hi = domain.ulid_bounds(ms - 60_000, ms + 60_000)
    assert lo <= now <= hi and len(lo) == len(hi) == 26
    assert domain.ulid_bounds(None, 0) is None and domain.ulid_bounds(2**48, None) is None
