"""Rescheduling, exceptions, closures, lessons and attendance (issue 17): edits at a revision, orphan
protection, per-date cancel/move, academy-wide closures, lesson reads, bulk attendance and reports."""

from __future__ import annotations

import threading

import pytest

from tests.functional.test_schedules import call, make_schedule


@pytest.fixture
def kids(client, tokens):
    out = []
    for name, cust in (("Ada", "cust-a"), ("Bob", "cust-a"), ("Cyd", "cust-b")):
        r = call(client, "post", "/admin/students", tokens.admin, {"customer_id": cust, "name": name})
        assert r.status_code == 201
        out.append(r.json_body["id"])
    return out


def patch(client, tokens, sid, body):
    return call(client, "patch", f"/admin/schedules/{sid}", tokens.admin, body)


def put_att(client, tokens, sid, day, student, status="present"):
    return call(client, "put", f"/admin/schedules/{sid}/attendance/{day}/{student}", tokens.admin, {"status": status})


# --- PATCH /admin/schedules/{id} -----------------------------------------------------------------


def test_patch_edits_at_revision_and_bumps_it(client, tokens, kids):
    a, b, _ = kids
    s = make_schedule(client, tokens, [a])
    assert s["rev"] == 0
    r = patch(client, tokens, s["id"], {"rev": 0, "title": "Algebra", "student_ids": [a, b], "until": "2025-03-31"})
    assert r.status_code == 200, r.body
    assert (r.json_body["title"], r.json_body["student_ids"], r.json_body["until"], r.json_body["rev"]) == (
        "Algebra",
        [a, b],
        "2025-03-31",
        1,
    )
    # the membership index follows: b's schedules now include it
    only_b = call(client, "get", f"/admin/schedules?student_id={b}", tokens.admin).json_body["items"]
    assert [x["id"] for x in only_b] == [s["id"]]
    # a later wall time on the same dates; until: null makes it open-ended again
    r = patch(client, tokens, s["id"], {"rev": 1, "starts_at": "2025-01-06T18:00:00Z", "ends_at": "2025-01-06T19:00:00Z"})
    assert r.status_code == 200 and r.json_body["starts_at"] == "2025-01-06T18:00:00.000Z"
    r = patch(client, tokens, s["id"], {"rev": 2, "until": None})
    assert r.status_code == 200 and r.json_body["until"] is None and r.json_body["rev"] == 3
    # removing b leaves b's schedule list
    r = patch(client, tokens, s["id"], {"rev": 3, "student_ids": [a]})
    assert r.status_code == 200
    assert call(client, "get", f"/admin/schedules?student_id={b}", tokens.admin).json_body["items"] == []


def test_patch_stale_revision_is_409(client, tokens, kids):
    s = make_schedule(client, tokens, kids[:1])
    assert patch(client, tokens, s["id"], {"rev": 0, "title": "One"}).status_code == 200
    r = patch(client, tokens, s["id"], {"rev": 0, "title": "Two"})
    assert r.status_code == 409 and r.json_body["error"]["code"] == "stale_revision"
    assert r.json_body["error"]["details"]["current_rev"] == 1
    assert call(client, "get", f"/admin/schedules/{s['id']}", tokens.admin).json_body["title"] == "One"


def test_two_concurrent_patches_at_one_revision_one_wins(client, tokens, kids):
    s = make_schedule(client, tokens, kids[:1])
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def edit(title: str) -> None:
        barrier.wait()
        codes.append(patch(client, tokens, s["id"], {"rev": 0, "title": title}).status_code)

    threads = [threading.Thread(target=edit, args=(t,)) for t in ("Left", "Right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(codes) == [200, 409]
    assert call(client, "get", f"/admin/schedules/{s['id']}", tokens.admin).json_body["rev"] == 1


def test_attendance_written_after_the_read_makes_the_edit_stale(client, tokens, kids):
    s = make_schedule(client, tokens, kids[:1])
    assert put_att(client, tokens, s["id"], "2025-01-13", kids[0]).status_code == 200
    r = patch(client, tokens, s["id"], {"rev": 0, "title": "Late"})
    assert r.status_code == 409 and r.json_body["error"]["code"] == "stale_revision"


def test_patch_refuses_archived_and_unknown_students(client, tokens, kids):
    a, b, _ = kids
    s = make_schedule(client, tokens, [a])
    r = call(client, "patch", f"/admin/students/{b}", tokens.admin, {"rev": 0, "active": False})
    assert r.status_code == 200, r.body
    r = patch(client, tokens, s["id"], {"rev": 0, "student_ids": [a, b]})
    assert r.status_code == 409 and r.json_body["error"]["code"] == "archived_students"
    assert r.json_body["error"]["details"]["archived"] == [b]
    r = patch(client, tokens, s["id"], {"rev": 0, "student_ids": [a, "01UNKNOWN"]})
    assert r.status_code == 400 and r.json_body["error"]["code"] == "unknown_students"


def test_patch_that_would_orphan_attendance_is_409_unless_confirmed(client, tokens, kids):
    from tests.functional.test_schedules import attendance_count

    a, b, _ = kids
    s = make_schedule(client, tokens, [a, b])
    for day, who in (("2025-01-13", b), ("2025-01-20", a), ("2025-01-27", a)):
        assert put_att(client, tokens, s["id"], day, who).status_code == 200
    rev = call(client, "get", f"/admin/schedules/{s['id']}", tokens.admin).json_body["rev"]
    # removing b (who has a record) and ending before the 27th: two records named
    r = patch(client, tokens, s["id"], {"rev": rev, "student_ids": [a], "until": "2025-01-20"})
    assert r.status_code == 409 and r.json_body["error"]["code"] == "would_orphan_attendance", r.body
    details = r.json_body["error"]["details"]
    assert details["count"] == 2
    assert details["records"] == [{"date": "2025-01-13", "student_id": b}, {"date": "2025-01-27", "student_id": a}]
    # moving the first session to a Tuesday moves every past lesson: all three are named
    r = patch(client, tokens, s["id"], {"rev": rev, "starts_at": "2025-01-07T16:00:00Z", "ends_at": "2025-01-07T17:00:00Z"})
    assert r.status_code == 409 and r.json_body["error"]["details"]["count"] == 3
    assert attendance_count(s["id"]) == 3
    # confirmed: the two records go with the edit; the one still owned stays
    r = patch(client, tokens, s["id"], {"rev": rev, "student_ids": [a], "until": "2025-01-20", "confirm": True})
    assert r.status_code == 200, r.body
    items = call(client, "get", f"/admin/schedules/{s['id']}/attendance", tokens.admin).json_body["items"]
    assert [(i["date"], i["student_id"]) for i in items] == [("2025-01-20", a)]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"title": "No rev"}, 400),
        ({"rev": 0}, 400),
        ({"rev": "0", "title": "T"}, 400),
        ({"rev": -1, "title": "T"}, 400),
        ({"rev": 0, "title": None}, 400),
        ({"rev": 0, "student_ids": []}, 400),
        ({"rev": 0, "starts_at": "tomorrow"}, 400),
        ({"rev": 0, "ends_at": "2025-01-06T15:00:00Z"}, 400),
        ({"rev": 0, "until": "2024-12-01"}, 400),
        ({"rev": 0, "recurrence": "none"}, 400),
        ({"rev": 0, "confirm": "yes", "title": "T"}, 400),
    ],
)
def test_patch_bad_bodies(client, tokens, kids, body, status):
    s = make_schedule(client, tokens, kids[:1])
    r = patch(client, tokens, s["id"], body)
    assert r.status_code == status, r.body


def test_patch_unknown_schedule_and_roles(client, tokens, kids):
    assert patch(client, tokens, "01NOPE", {"rev": 0, "title": "T"}).status_code == 404
    s = make_schedule(client, tokens, kids[:1])
    r = call(client, "patch", f"/admin/schedules/{s['id']}", tokens.customer_a, {"rev": 0, "title": "T"})
    assert r.status_code == 403


# --- exceptions: cancel / move one date --------------------------------------------------------------


def exc(client, tokens, sid, day, body, token=None):
    return call(client, "put", f"/admin/schedules/{sid}/exceptions/{day}", token or tokens.admin, body)


def test_cancel_a_date_refuses_attendance_and_marks_recorded_ones_cancelled(client, tokens, kids):
    a, b, _ = kids
    s = make_schedule(client, tokens, [a, b])
    assert put_att(client, tokens, s["id"], "2025-01-13", a, "late").status_code == 200
    r = exc(client, tokens, s["id"], "2025-01-13", {"action": "cancel", "reason": "Holiday"})
    assert r.status_code == 200, r.body
    assert r.json_body["attendance_cancelled"] == 1
    lesson = r.json_body["lesson"]
    assert (lesson["date"], lesson["status"], lesson["reason"]) == ("2025-01-13", "cancelled", "Holiday")
    items = call(client, "get", f"/admin/schedules/{s['id']}/attendance", tokens.admin).json_body["items"]
    assert [(i["student_id"], i["status"]) for i in items] == [(a, "cancelled")]
    r = put_att(client, tokens, s["id"], "2025-01-13", b)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "lesson_cancelled"
    # another date is untouched; undoing the cancel lets attendance in again
    assert put_att(client, tokens, s["id"], "2025-01-20", b).status_code == 200
    r = call(client, "delete", f"/admin/schedules/{s['id']}/exceptions/2025-01-13", tokens.admin)
    assert r.status_code == 200 and r.json_body["status"] == "scheduled"
    assert put_att(client, tokens, s["id"], "2025-01-13", b).status_code == 200
    r = call(client, "delete", f"/admin/schedules/{s['id']}/exceptions/2025-01-13", tokens.admin)
    assert r.status_code == 404 and r.json_body["error"]["code"] == "exception_not_found"


def test_the_cancel_condition_is_the_guard_not_the_read(client, tokens, kids):
    """A write that read the schedule before the cancel committed is still refused at commit."""
    from datetime import date

    from chalicelib.core.errors import DomainError
    from chalicelib.schedules import store

    a = kids[0]
    s = make_schedule(client, tokens, [a])
    assert exc(client, tokens, s["id"], "2025-01-13", {"action": "cancel"}).status_code == 200
    with pytest.raises(DomainError) as info:
        store.write_attendance(s["id"], date(2025, 1, 13), a, "present", None, "admin-2")  # skips the service's read
    assert info.value.code == "lesson_cancelled"
    assert store.attendance_on(s["id"], date(2025, 1, 13)) == []


def test_attendance_racing_a_cancel_ends_cancelled(client, tokens, kids):
    """The write lands between the cancel's read of the date's records and its commit: the cancel's rev
    condition fails, it re-reads and marks that record cancelled too."""
    from datetime import date

    from chalicelib.schedules import service, store
    from chalicelib.schedules.store import Attendance

    a, b, _ = kids
    s = make_schedule(client, tokens, [a, b])
    raced = []

    def write_after_listing(**_) -> None:
        if not raced:
            raced.append(store.write_attendance(s["id"], date(2025, 1, 13), b, "present", None, "admin-2"))

    events = Attendance._get_connection().connection.client.meta.events
    events.register("after-call.dynamodb.Query", write_after_listing, unique_id="race-cancel")
    try:
        _, cancelled = service.set_exception(s["id"], date(2025, 1, 13), "cancel", None, None)
    finally:
        events.unregister("after-call.dynamodb.Query", unique_id="race-cancel")
    assert raced and cancelled == 1
    assert [x.status for x in store.attendance_on(s["id"], date(2025, 1, 13))] == ["cancelled"]


def test_move_a_date_keeps_its_length_and_identity(client, tokens, kids):
    a = kids[0]
    s = make_schedule(client, tokens, [a])
    r = exc(client, tokens, s["id"], "2025-01-13", {"action": "move", "to_time": "2025-01-14T09:30:00+01:00", "reason": "Room"})
    assert r.status_code == 200, r.body
    lesson = r.json_body["lesson"]
    assert (lesson["date"], lesson["status"], lesson["reason"]) == ("2025-01-13", "moved", "Room")
    assert (lesson["starts_at"], lesson["ends_at"]) == ("2025-01-14T08:30:00.000Z", "2025-01-14T09:30:00.000Z")
    assert r.json_body["attendance_cancelled"] == 0
    assert put_att(client, tokens, s["id"], "2025-01-13", a).status_code == 200  # a moved lesson takes attendance


@pytest.mark.parametrize(
    ("day", "body", "status"),
    [
        ("2025-01-14", {"action": "cancel"}, 400),  # not a session date
        ("2025-13-01", {"action": "cancel"}, 400),
        ("2025-01-13", {"action": "skip"}, 400),
        ("2025-01-13", {"action": "move"}, 400),  # no to_time
        ("2025-01-13", {"action": "cancel", "to_time": "2025-01-14T10:00:00Z"}, 400),
        ("2025-01-13", {"action": "move", "to_time": "2025-01-14T10:00:00"}, 400),  # naive
        ("2025-01-13", {"action": "cancel", "reason": 5}, 400),
        ("2025-01-13", {"action": "cancel", "extra": 1}, 400),
    ],
)
def test_bad_exceptions(client, tokens, kids, day, body, status):
    s = make_schedule(client, tokens, kids[:1])
    r = exc(client, tokens, s["id"], day, body)
    assert r.status_code == status, r.body


def test_exceptions_unknown_schedule_and_roles(client, tokens, kids):
    assert exc(client, tokens, "01NOPE", "2025-01-13", {"action": "cancel"}).status_code == 404
    assert call(client, "delete", "/admin/schedules/01NOPE/exceptions/2025-01-13", tokens.admin).status_code == 404
    s = make_schedule(client, tokens, kids[:1])
    assert exc(client, tokens, s["id"], "2025-01-13", {"action": "cancel"}, tokens.customer_a).status_code == 403


def test_an_edit_drops_exceptions_on_dates_it_removes(client, tokens, kids):
    s = make_schedule(client, tokens, kids[:1])
    assert exc(client, tokens, s["id"], "2025-01-27", {"action": "cancel"}).status_code == 200
    rev = call(client, "get", f"/admin/schedules/{s['id']}", tokens.admin).json_body["rev"]
    assert patch(client, tokens, s["id"], {"rev": rev, "until": "2025-01-20"}).status_code == 200
    from chalicelib.schedules.store import Schedule

    row = Schedule.get(s["id"])
    assert row.exception_map() == {} and not row.cancelled_on


# --- academy-wide closures -------------------------------------------------------------------------


def close(client, tokens, starts_on, ends_on, reason="Winter break", token=None):
    body = {"starts_on": starts_on, "ends_on": ends_on, "reason": reason}
    return call(client, "post", "/admin/closures", token or tokens.admin, body)


def test_closure_cancels_lessons_refuses_attendance_and_reopens(client, tokens, kids):
    a = kids[0]
    s = make_schedule(client, tokens, [a])
    r = close(client, tokens, "2025-01-10", "2025-01-21")
    assert r.status_code == 201, r.body
    closure = r.json_body
    assert (closure["starts_on"], closure["ends_on"], closure["reason"]) == ("2025-01-10", "2025-01-21", "Winter break")
    for day in ("2025-01-13", "2025-01-20"):
        r = put_att(client, tokens, s["id"], day, a)
        assert r.status_code == 409 and r.json_body["error"]["code"] == "lesson_cancelled"
        assert r.json_body["error"]["details"]["closure"] is True
    assert put_att(client, tokens, s["id"], "2025-01-27", a).status_code == 200
    # overlapping another closure: 409 naming it; a separate one is fine
    r = close(client, tokens, "2025-01-21", "2025-01-22")
    assert r.status_code == 409 and r.json_body["error"]["code"] == "closure_overlaps"
    assert r.json_body["error"]["details"] == {"closure_ids": [closure["id"]], "dates": ["2025-01-21"]}
    other = close(client, tokens, "2025-04-01", "2025-04-01", "Inspection").json_body
    # lists: by first day, filtered by overlap
    listed = call(client, "get", "/admin/closures", tokens.admin).json_body["items"]
    assert [c["id"] for c in listed] == [closure["id"], other["id"]]
    feb = call(client, "get", "/admin/closures?from=2025-01-15&to=2025-03-01", tokens.admin).json_body["items"]
    assert [c["id"] for c in feb] == [closure["id"]]
    # deleting reopens the days
    r = call(client, "delete", f"/admin/closures/{closure['id']}", tokens.admin)
    assert r.status_code == 200 and r.json_body["id"] == closure["id"]
    assert put_att(client, tokens, s["id"], "2025-01-13", a).status_code == 200
    assert call(client, "delete", f"/admin/closures/{closure['id']}", tokens.admin).status_code == 404
    assert close(client, tokens, "2025-01-21", "2025-01-22").status_code == 201


def test_the_closure_check_is_in_the_attendance_transaction(client, tokens, kids):
    from datetime import date

    from chalicelib.core.errors import DomainError
    from chalicelib.schedules import store

    a = kids[0]
    s = make_schedule(client, tokens, [a])
    assert close(client, tokens, "2025-01-13", "2025-01-13").status_code == 201
    with pytest.raises(DomainError) as info:
        store.write_attendance(s["id"], date(2025, 1, 13), a, "present", None, "admin-2")  # no read first
    assert info.value.code == "lesson_cancelled"
    assert store.attendance_on(s["id"], date(2025, 1, 13)) == []


@pytest.mark.parametrize(
    "body",
    [
        {"starts_on": "2025-01-10", "ends_on": "2025-01-09", "reason": "x"},
        {"starts_on": "2025-01-01", "ends_on": "2025-04-03", "reason": "x"},  # 93 days
        {"starts_on": "2025-01-10", "ends_on": "2025-01-11"},
        {"starts_on": "2025-01-10", "ends_on": "2025-01-11", "reason": ""},
        {"starts_on": "10/01/2025", "ends_on": "2025-01-11", "reason": "x"},
        {"starts_on": "2025-01-10", "ends_on": "2025-01-11", "reason": "x", "all": True},
    ],
)
def test_bad_closures_are_400(client, tokens, body):
    r = call(client, "post", "/admin/closures", tokens.admin, body)
    assert r.status_code == 400, r.body


def test_closures_roles_and_ids(client, tokens):
    assert close(client, tokens, "2025-01-10", "2025-01-10", token=tokens.customer_a).status_code == 403
    assert call(client, "get", "/admin/closures", tokens.customer_a).status_code == 403
    assert call(client, "delete", "/admin/closures/01NOPE", tokens.admin).status_code == 404
    assert call(client, "get", "/admin/closures?from=2025-02-01&to=2025-01-01", tokens.admin).status_code == 400
    assert close(client, tokens, "2025-01-01", "2025-04-02").status_code == 201  # exactly 92 days


# --- lesson reads ------------------------------------------------------------------------------------


def test_lessons_show_exceptions_closures_and_local_times(client, tokens, kids):
    a = kids[0]
    r = call(client, "post", "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Eve", "timezone": "Asia/Tokyo"})
    e = r.json_body["id"]
    s = make_schedule(client, tokens, [a, e], until="2025-02-03")
    assert exc(client, tokens, s["id"], "2025-01-13", {"action": "cancel", "reason": "Teacher ill"}).status_code == 200
    assert exc(client, tokens, s["id"], "2025-01-20", {"action": "move", "to_time": "2025-01-21T16:00:00Z"}).status_code == 200
    assert close(client, tokens, "2025-01-27", "2025-01-31", "Half term").status_code == 201
    r = call(client, "get", f"/admin/schedules/{s['id']}/lessons?from=2025-01-01&to=2025-03-31", tokens.admin)
    assert r.status_code == 200, r.body
    items = r.json_body["items"]
    assert [(i["date"], i["status"], i["reason"]) for i in items] == [
        ("2025-01-06", "scheduled", None),
        ("2025-01-13", "cancelled", "Teacher ill"),
        ("2025-01-20", "moved", "moved"),
        ("2025-01-27", "cancelled", "closure: Half term"),
        ("2025-02-03", "scheduled", None),
    ]
    first = items[0]
    assert (first["starts_at"], first["ends_at"]) == ("2025-01-06T16:00:00.000Z", "2025-01-06T17:00:00.000Z")
    zones = {p["student_id"]: (p["timezone"], p["local_starts_at"]) for p in first["students"]}
    assert zones == {a: ("UTC", "2025-01-06T16:00:00+00:00"), e: ("Asia/Tokyo", "2025-01-07T01:00:00+09:00")}
    assert items[2]["starts_at"] == "2025-01-21T16:00:00.000Z"


@pytest.mark.parametrize(
    "query",
    ["from=2025-01-01&to=2025-04-03", "from=2025-02-01&to=2025-01-01", "from=2025-13-01", "to=1/1/2025"],
)
def test_lesson_ranges_are_bounded(client, tokens, kids, query):
    s = make_schedule(client, tokens, kids[:1])
    r = call(client, "get", f"/admin/schedules/{s['id']}/lessons?{query}", tokens.admin)
    assert r.status_code == 400, r.body


def test_lessons_default_range_unknown_schedule_and_roles(client, tokens, kids):
    s = make_schedule(client, tokens, kids[:1])
    r = call(client, "get", f"/admin/schedules/{s['id']}/lessons", tokens.admin)
    assert r.status_code == 200 and 3 <= len(r.json_body["items"]) <= 4  # weekly, the next 28 days
    r = call(client, "get", f"/admin/schedules/{s['id']}/lessons?from=2025-01-01&to=2025-04-02", tokens.admin)
    assert r.status_code == 200 and len(r.json_body["items"]) == 13  # 92 days is the limit
    assert call(client, "get", "/admin/schedules/01NOPE/lessons", tokens.admin).status_code == 404
    assert call(client, "get", f"/admin/schedules/{s['id']}/lessons", tokens.customer_a).status_code == 403


# --- bulk attendance of a lesson, a student's attendance, the missing report ------------------------


def bulk(client, tokens, sid, day, records, token=None):
    return call(client, "put", f"/admin/schedules/{sid}/lessons/{day}/attendance", token or tokens.admin, {"records": records})


def test_bulk_attendance_for_a_lesson_is_one_transaction(client, tokens, kids):

    a, b, c = kids
    s = make_schedule(client, tokens, [a, b])
    from chalicelib.core.db import _connection

    calls = []
    events = _connection().client.meta.events

    def count(**kw) -> None:
        calls.append(kw["params"]["TransactItems"])

    events.register("provide-client-params.dynamodb.TransactWriteItems", count, unique_id="count-tx")
    try:
        r = bulk(
            client,
            tokens,
            s["id"],
            "2025-01-13",
            [{"student_id": a, "status": "excused", "note": "dentist"}, {"student_id": b, "status": "late"}],
        )
    finally:
        events.unregister("provide-client-params.dynamodb.TransactWriteItems", unique_id="count-tx")
    assert r.status_code == 200, r.body
    assert [(i["student_id"], i["status"], i["note"]) for i in r.json_body["items"]] == sorted(
        [(a, "excused", "dentist"), (b, "late", None)]
    )
    assert len(calls) == 1 and len(calls[0]) == 4  # the schedule, the closure check, two records
    # one stranger fails the whole lesson: nothing written
    r = bulk(
        client, tokens, s["id"], "2025-01-20", [{"student_id": a, "status": "present"}, {"student_id": c, "status": "present"}]
    )
    assert r.status_code == 400 and r.json_body["error"]["code"] == "student_not_on_schedule"
    assert r.json_body["error"]["details"]["student_ids"] == [c]
    assert call(client, "get", f"/admin/schedules/{s['id']}/attendance?from=2025-01-20", tokens.admin).json_body["items"] == []
    # a cancelled lesson refuses it all
    assert exc(client, tokens, s["id"], "2025-01-27", {"action": "cancel"}).status_code == 200
    r = bulk(client, tokens, s["id"], "2025-01-27", [{"student_id": a, "status": "present"}])
    assert r.status_code == 409 and r.json_body["error"]["code"] == "lesson_cancelled"


@pytest.mark.parametrize(
    ("day", "records", "status"),
    [
        ("2025-01-13", [], 400),
        ("2025-01-13", "all", 400),
        ("2025-01-13", [{"student_id": "X", "status": "present"}, {"student_id": "X", "status": "late"}], 400),
        ("2025-01-13", [{"student_id": "X", "status": "asleep"}], 400),
        ("2025-01-14", [{"student_id": "A", "status": "present"}], 400),  # not a session date
        ("2025-02-31", [{"student_id": "A", "status": "present"}], 400),
    ],
)
def test_bad_bulk_attendance(client, tokens, kids, day, records, status):
    s = make_schedule(client, tokens, kids[:1])
    records = (
        [{**r, "student_id": kids[0]} if r.get("student_id") == "A" else r for r in records]
        if isinstance(records, list)
        else records
    )
    r = bulk(client, tokens, s["id"], day, records)
    assert r.status_code == status, r.body


def test_bulk_attendance_unknown_schedule_and_roles(client, tokens, kids):
    rec = [{"student_id": kids[0], "status": "present"}]
    assert bulk(client, tokens, "01NOPE", "2025-01-13", rec).status_code == 404
    s = make_schedule(client, tokens, kids[:1])
    assert bulk(client, tokens, s["id"], "2025-01-13", rec, tokens.customer_a).status_code == 403


def test_a_students_attendance_across_schedules(client, tokens, kids):
    a, b, _ = kids
    s1 = make_schedule(client, tokens, [a, b])
    s2 = make_schedule(client, tokens, [a], starts_at="2025-01-08T10:00:00Z", ends_at="2025-01-08T11:00:00Z")
    put_att(client, tokens, s1["id"], "2025-01-13", a, "absent")
    put_att(client, tokens, s2["id"], "2025-01-08", a, "present")
    put_att(client, tokens, s1["id"], "2025-01-13", b, "present")
    r = call(client, "get", f"/admin/students/{a}/attendance", tokens.admin)
    assert r.status_code == 200, r.body
    assert [(i["schedule_id"], i["date"], i["status"]) for i in r.json_body["items"]] == [
        (s2["id"], "2025-01-08", "present"),
        (s1["id"], "2025-01-13", "absent"),
    ]
    r = call(client, "get", f"/admin/students/{a}/attendance?from=2025-01-10&to=2025-01-31", tokens.admin)
    assert [i["date"] for i in r.json_body["items"]] == ["2025-01-13"]
    r = call(client, "get", f"/admin/students/{a}/attendance?limit=1", tokens.admin)
    assert len(r.json_body["items"]) == 1 and r.json_body["next_token"]
    r = call(client, "get", f"/admin/students/{a}/attendance?limit=1&next_token={r.json_body['next_token']}", tokens.admin)
    assert [i["date"] for i in r.json_body["items"]] == ["2025-01-13"]
    assert call(client, "get", "/admin/students/01NOPE/attendance", tokens.admin).status_code == 404
    assert call(client, "get", f"/admin/students/{a}/attendance?from=x", tokens.admin).status_code == 400
    assert call(client, "get", f"/admin/students/{a}/attendance", tokens.customer_a).status_code == 403


def test_missing_attendance_report_uses_queries_only(client, tokens, kids):
    from chalicelib.schedules.store import Attendance

    a, b, _ = kids
    s = make_schedule(client, tokens, [a, b], until="2025-02-03")
    other = make_schedule(
        client, tokens, [a], recurrence="none", starts_at="2025-01-15T10:00:00Z", ends_at="2025-01-15T11:00:00Z"
    )
    bulk(client, tokens, s["id"], "2025-01-06", [{"student_id": a, "status": "present"}, {"student_id": b, "status": "absent"}])
    put_att(client, tokens, s["id"], "2025-01-13", a)
    exc(client, tokens, s["id"], "2025-01-20", {"action": "cancel"})
    close(client, tokens, "2025-01-27", "2025-01-27")
    from chalicelib.schedules.store import Closure, Schedule
    from chalicelib.students.store import Student

    ops = []
    clients = {
        id(m._get_connection().connection.client): m._get_connection().connection.client
        for m in (Attendance, Closure, Schedule, Student)
    }

    def note(**kw) -> None:
        ops.append(kw["event_name"].rsplit(".", 1)[-1])

    for c in clients.values():
        c.meta.events.register("before-call.dynamodb", note, unique_id="ops")
    try:
        r = call(client, "get", "/admin/attendance/missing?from=2025-01-01&to=2025-02-28", tokens.admin)
    finally:
        for c in clients.values():
            c.meta.events.unregister("before-call.dynamodb", unique_id="ops")
    assert r.status_code == 200, r.body
    rows = [(i["schedule_id"], i["date"], i["missing_student_ids"]) for i in r.json_body["items"]]
    assert rows == [(s["id"], "2025-01-13", [b]), (other["id"], "2025-01-15", [a]), (s["id"], "2025-02-03", [a, b])]
    assert r.json_body["truncated"] is False
    assert "Scan" not in ops and "Query" in ops
    # by default the last 28 days (nothing of 2025 is in them)
    assert call(client, "get", "/admin/attendance/missing", tokens.admin).json_body["items"] == []
    assert call(client, "get", "/admin/attendance/missing?from=2025-01-01&to=2025-06-01", tokens.admin).status_code == 400
    assert call(client, "get", "/admin/attendance/missing", tokens.customer_a).status_code == 403


# --- what families see --------------------------------------------------------------------------------


def test_a_family_sees_its_students_lessons_and_attendance_only(client, tokens, kids):
    a, b, c = kids  # a, b: customer A's; c: customer B's
    s = make_schedule(client, tokens, [a, c], until="2025-01-27")
    s2 = make_schedule(client, tokens, [a], recurrence="none", starts_at="2025-01-15T10:00:00Z", ends_at="2025-01-15T11:00:00Z")
    exc(client, tokens, s["id"], "2025-01-13", {"action": "cancel", "reason": "Holiday"})
    bulk(client, tokens, s["id"], "2025-01-06", [{"student_id": a, "status": "present"}, {"student_id": c, "status": "late"}])
    r = call(client, "get", f"/customer/students/{a}/lessons?from=2025-01-01&to=2025-01-31", tokens.customer_a)
    assert r.status_code == 200, r.body
    items = r.json_body["items"]
    assert [(i["schedule_id"], i["date"], i["status"]) for i in items] == [
        (s["id"], "2025-01-06", "scheduled"),
        (s["id"], "2025-01-13", "cancelled"),
        (s2["id"], "2025-01-15", "scheduled"),
        (s["id"], "2025-01-20", "scheduled"),
        (s["id"], "2025-01-27", "scheduled"),
    ]
    assert all([p["student_id"] for p in i["students"]] == [a] for i in items)  # never the classmates
    r = call(client, "get", f"/customer/students/{a}/attendance", tokens.customer_a)
    assert r.status_code == 200 and [(i["date"], i["status"]) for i in r.json_body["items"]] == [("2025-01-06", "present")]
    assert [i["updated_by"] for i in r.json_body["items"]] == [None]  # which admin wrote it stays the academy's
    assert call(client, "get", f"/customer/students/{b}/lessons", tokens.customer_a).json_body["items"] == []
    # customer B: A's student is a 404 on both; its own is served
    for path in (f"/customer/students/{a}/lessons", f"/customer/students/{a}/attendance"):
        r = call(client, "get", path, tokens.customer_b)
        assert r.status_code == 404 and r.json_body["error"]["code"] == "student_not_found"
        assert call(client, "get", path, tokens.admin).status_code == 403
    r = call(client, "get", f"/customer/students/{c}/attendance", tokens.customer_b)
    assert [(i["date"], i["status"]) for i in r.json_body["items"]] == [("2025-01-06", "late")]
    assert (
        call(client, "get", f"/customer/students/{a}/lessons?from=2025-01-01&to=2025-06-01", tokens.customer_a).status_code == 400
    )
    assert call(client, "get", "/customer/students/01NOPE/lessons", tokens.customer_a).status_code == 404
