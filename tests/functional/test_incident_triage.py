"""Incident triage: snooze (until a time, until N more incidents), assign, notes and the group timeline."""

from __future__ import annotations

import json
import threading

import pytest

from chalicelib.incidents import domain, service, store

ADMIN = {"role": "admin", "id": "admin-1"}


def post(client, path, body, token):
    h = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return client.http.post(path, headers=h, body=body if isinstance(body, str) else json.dumps(body))


def get(client, path, token):
    return client.http.get(path, headers={"Authorization": f"Bearer {token}"})


def incident():
    return {"area": "customers.homework.upload", "message": "Upload failed", "location": "https://app.example/customer/homework"}


@pytest.fixture
def clock():
    class Clock:
        now = 1_800_000_000.0

        def __call__(self):
            return self.now

    c = Clock()
    service.use_intake(service.Intake(clock=c))
    yield c
    service.use_intake(None)


def _draft() -> domain.Draft:
    return domain.build_draft(
        source="frontend", area="customers.homework.upload", message="Upload failed", actor={"role": "customer", "id": "cust-a"}
    )


def _events(client, tokens, gid):
    r = get(client, f"/admin/incidents/groups/{gid}/timeline", tokens.admin)
    assert r.status_code == 200, r.body
    return [e["event"] for e in r.json_body["items"]]


def _group(client, tokens, gid):
    return get(client, f"/admin/incidents/groups/{gid}", tokens.admin).json_body["group"]


def test_snooze_until_n_reopens_at_the_nth_incident(client, tokens, clock):
    gid = post(client, "/incidents", incident(), tokens.customer_a).json_body["group_id"]
    r = post(client, f"/admin/incidents/groups/{gid}/snooze", {"incidents": 3}, tokens.admin)
    assert r.status_code == 200, r.body
    assert r.json_body["changed"] is True and r.json_body["group"]["status"] == "snoozed"
    assert r.json_body["group"]["snooze_left"] == 3
    again = post(client, f"/admin/incidents/groups/{gid}/snooze", {"incidents": 3}, tokens.admin)
    assert again.status_code == 200 and again.json_body["changed"] is False  # idempotent: one timeline entry
    assert [g["group_id"] for g in get(client, "/admin/incidents?status=snoozed", tokens.admin).json_body["items"]] == [gid]

    for left in (2, 1):
        post(client, "/incidents", incident(), tokens.customer_a)
        g = _group(client, tokens, gid)
        assert g["status"] == "snoozed" and g["snooze_left"] == left
    post(client, "/incidents", incident(), tokens.customer_a)  # the 3rd: wakes it
    g = _group(client, tokens, gid)
    assert g["status"] == "open" and g["snooze_left"] is None and g["count"] == 4
    assert g["reopened_by"] == {"role": "system", "id": "snooze"} and g["regressions"] == 0
    assert _events(client, tokens, gid) == ["created", "snoozed", "reopened"]
    post(client, "/incidents", incident(), tokens.customer_a)
    assert _group(client, tokens, gid)["status"] == "open"
    audit = [e["action"] for e in get(client, "/admin/audit", tokens.admin).json_body["items"]]
    assert audit.count("incident_group.snooze") == 2  # both calls audited; the second changed nothing


def test_snooze_until_a_time_holds_then_reopens(client, tokens, clock):
    gid = post(client, "/incidents", incident(), tokens.customer_a).json_body["group_id"]
    r = post(client, f"/admin/incidents/groups/{gid}/snooze", {"until": "2027-01-15T08:30:00Z"}, tokens.admin)
    assert r.status_code == 200 and r.json_body["group"]["snooze_until"].startswith("2027-01-15T08:30:00")
    post(client, "/incidents", incident(), tokens.customer_a)
    assert _group(client, tokens, gid)["status"] == "snoozed"  # 2027-01-15 08:30 is after the clock (2027-01-15 08:00)
    clock.now += 3600
    post(client, "/incidents", incident(), tokens.customer_a)
    g = _group(client, tokens, gid)
    assert g["status"] == "open" and g["snooze_until"] is None and g["count"] == 3


def test_concurrent_intakes_wake_a_snoozed_group_exactly_once(aws, clock):
    hub = service.intake()
    gid = hub.record(_draft()).group_id
    hub.snooze(gid, ADMIN, incidents=5)
    barrier = threading.Barrier(8, timeout=10)

    def go() -> None:
        barrier.wait()
        hub.record(_draft())

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    g = store.group_dict(store.get_group(gid))
    assert g["status"] == "open" and g["count"] == 9 and g["snooze_left"] is None
    events = [e.event for e in store.TimelineEntry.query(gid)]
    assert events.count("reopened") == 1 and events.count("created") == 1


def test_assign_note_and_timeline_are_idempotent_and_paginated(client, tokens, clock):
    gid = post(client, "/incidents", incident(), tokens.customer_a).json_body["group_id"]
    r = post(client, f"/admin/incidents/groups/{gid}/assign", {"assignee": "admin-2"}, tokens.admin)
    assert r.status_code == 200 and r.json_body["changed"] is True and r.json_body["group"]["assignee"] == "admin-2"
    base = f"/admin/incidents/groups/{gid}"
    assert post(client, f"{base}/assign", {"assignee": "admin-2"}, tokens.admin).json_body["changed"] is False
    assert post(client, f"{base}/notes", {"note": "looking"}, tokens.admin).json_body["changed"] is True
    assert post(client, f"{base}/notes", {"note": "looking"}, tokens.admin).json_body["changed"] is False
    post(client, f"/admin/incidents/groups/{gid}/resolve", {"note": "fixed"}, tokens.admin)
    post(client, f"/admin/incidents/groups/{gid}/resolve", {}, tokens.admin)
    r = post(client, f"/admin/incidents/groups/{gid}/assign", {"assignee": None}, tokens.admin)
    assert r.json_body["changed"] is True and r.json_body["group"]["assignee"] is None
    assert _events(client, tokens, gid) == ["created", "assigned", "noted", "resolved", "assigned"]

    page = get(client, f"/admin/incidents/groups/{gid}/timeline?limit=2", tokens.admin).json_body
    assert [e["event"] for e in page["items"]] == ["created", "assigned"] and page["next_token"]
    rest = get(client, f"/admin/incidents/groups/{gid}/timeline?limit=10&next_token={page['next_token']}", tokens.admin)
    assert [e["event"] for e in rest.json_body["items"]] == ["noted", "resolved", "assigned"]
    noted = next(e for e in page["items"] + rest.json_body["items"] if e["event"] == "noted")
    assert noted["actor"] == ADMIN and noted["details"] == {"note": "looking"}


def test_triage_bad_input_is_4xx(client, tokens, clock):
    gid = post(client, "/incidents", incident(), tokens.customer_a).json_body["group_id"]
    base = f"/admin/incidents/groups/{gid}"
    for body in ({}, {"incidents": 0}, {"incidents": "x"}, {"incidents": 2, "until": "2030-01-01T00:00:00Z"}, {"extra": 1}):
        r = post(client, f"{base}/snooze", body, tokens.admin)
        assert 400 <= r.status_code < 500 and r.status_code != 404, (body, r.status_code)
    r = post(client, f"{base}/snooze", {"until": "2020-01-01T00:00:00Z"}, tokens.admin)
    assert r.status_code == 400 and r.json_body["error"]["code"] == "snooze_until_past"
    assert 400 <= post(client, f"{base}/notes", {"note": ""}, tokens.admin).status_code < 500
    assert 400 <= post(client, f"{base}/assign", {"assignee": 5}, tokens.admin).status_code < 500
    missing = "/admin/incidents/groups/nope"
    assert post(client, f"{missing}/snooze", {"incidents": 2}, tokens.admin).status_code == 404
    assert post(client, f"{missing}/assign", {"assignee": "admin-2"}, tokens.admin).status_code == 404
    assert post(client, f"{missing}/notes", {"note": "x"}, tokens.admin).status_code == 404
    assert get(client, f"{missing}/timeline", tokens.admin).status_code == 404
    assert post(client, f"{base}/snooze", {"incidents": 2}, tokens.customer_a).status_code == 403


def test_search_groups_by_title_prefix_case_insensitively(client, tokens, clock):
    def report(message, area="customers.homework.upload"):
        body = {**incident(), "message": message, "area": area}
        return post(client, "/incidents", body, tokens.customer_a).json_body["group_id"]

    upload = report("Upload failed")
    report("Video too large", area="customers.videos.upload")
    found = get(client, "/admin/incidents?title=uPLOAD%20f", tokens.admin).json_body["items"]
    assert [g["group_id"] for g in found] == [upload]
    assert get(client, "/admin/incidents?title=nothing", tokens.admin).json_body["items"] == []
    assert get(client, "/admin/incidents?title=upload&status=resolved", tokens.admin).json_body["items"] == []
    assert get(client, "/admin/incidents?title=", tokens.admin).status_code in (400, 422)


def test_snooze_until_a_spike_wakes_at_the_crossing_only(client, tokens, clock):
    gid = post(client, "/incidents", incident(), tokens.customer_a).json_body["group_id"]
    base = f"/admin/incidents/groups/{gid}"
    r = post(client, f"{base}/snooze", {"spike": {"incidents": 3, "minutes": 5}}, tokens.admin)
    assert r.status_code == 200 and r.json_body["changed"] is True, r.body
    spike = r.json_body["group"]["snooze_spike"]
    assert spike == {"incidents": 3, "minutes": 5, "window_started_at": None, "counted": 0}
    again = post(client, f"{base}/snooze", {"spike": {"incidents": 3, "minutes": 5}}, tokens.admin)
    assert again.json_body["changed"] is False  # idempotent: one timeline entry

    # a slow trickle never crosses: two in a window, then the window ends (5 min after its first incident)
    for _ in range(2):
        post(client, "/incidents", incident(), tokens.customer_a)
        clock.now += 120
    g = _group(client, tokens, gid)
    assert g["status"] == "snoozed" and g["snooze_spike"]["counted"] == 2
    clock.now += 60  # 6 min after the window's first incident: a new window starts at the next one
    post(client, "/incidents", incident(), tokens.customer_a)
    g = _group(client, tokens, gid)
    assert g["status"] == "snoozed" and g["snooze_spike"]["counted"] == 1
    clock.now += 30
    post(client, "/incidents", incident(), tokens.customer_a)
    assert _group(client, tokens, gid)["status"] == "snoozed"
    clock.now += 30
    post(client, "/incidents", incident(), tokens.customer_a)  # the 3rd within 5 minutes: the crossing
    g = _group(client, tokens, gid)
    assert g["status"] == "open" and g["snooze_spike"] is None and g["count"] == 6
    assert g["reopened_by"] == {"role": "system", "id": "spike"} and g["regressions"] == 0
    timeline = get(client, f"{base}/timeline", tokens.admin).json_body["items"]
    assert [e["event"] for e in timeline] == ["created", "snoozed", "reopened"]
    assert timeline[1]["details"]["spike"] == {"incidents": 3, "minutes": 5}
    assert timeline[2]["details"]["reason"] == "spike" and timeline[2]["actor"] == {"role": "system", "id": "spike"}
    post(client, "/incidents", incident(), tokens.customer_a)
    assert _group(client, tokens, gid)["status"] == "open"
    audit = get(client, "/admin/audit?action=incident_group.snooze", tokens.admin).json_body["items"]
    assert len(audit) == 2 and audit[0]["params"]["spike"] == {"incidents": 3, "minutes": 5}


def test_concurrent_intakes_wake_a_spike_snoozed_group_exactly_once(aws, clock):
    hub = service.intake()
    gid = hub.record(_draft()).group_id
    hub.snooze(gid, ADMIN, spike=(4, 10))
    barrier = threading.Barrier(8, timeout=10)

    def go() -> None:
        barrier.wait()
        hub.record(_draft())

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    g = store.group_dict(store.get_group(gid))
    assert g["status"] == "open" and g["count"] == 9 and g["snooze_spike"] is None
    events = [e for e in store.TimelineEntry.query(gid)]
    reopened = [e for e in events if e.event == "reopened"]
    assert len(reopened) == 1 and reopened[0].details["reason"] == "spike"


def test_a_spike_snooze_bad_input_is_400(client, tokens, clock):
    gid = post(client, "/incidents", incident(), tokens.customer_a).json_body["group_id"]
    base = f"/admin/incidents/groups/{gid}/snooze"
    for body in (
        {"spike": {"incidents": 1, "minutes": 5}},
        {"spike": {"incidents": 3, "minutes": 0}},
        {"spike": {"incidents": "3"}},
        {"spike": {"incidents": 3, "extra": 1}},
        {"spike": {}, "incidents": 2},
        {"spike": None},
    ):
        r = post(client, base, body, tokens.admin)
        assert r.status_code == 400, (body, r.status_code, r.body)
    r = post(client, base, {"spike": {}}, tokens.admin)  # the defaults: 10 within 10 minutes
    assert r.status_code == 200 and r.json_body["group"]["snooze_spike"]["incidents"] == 10


def test_resolve_and_reopen_count_toward_the_timeline_cap(client, tokens, clock):
    gid = post(client, "/incidents", incident(), tokens.customer_a).json_body["group_id"]
    base = f"/admin/incidents/groups/{gid}"
    assert post(client, f"{base}/resolve", {}, tokens.admin).json_body["changed"] is True
    assert int(store.get_group(gid).timeline_n) == 1  # counted like a note or an assignment
    store.IncidentGroup(group_id=gid).update(actions=[store.IncidentGroup.timeline_n.set(store.TIMELINE_MAX - 1)])
    assert post(client, f"{base}/reopen", {}, tokens.admin).json_body["changed"] is True  # the 500th admin entry
    r = post(client, f"{base}/resolve", {}, tokens.admin)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "incident_timeline_full"
    assert _group(client, tokens, gid)["status"] == "open"  # refused whole: no status change without its entry
    again = post(client, f"{base}/reopen", {}, tokens.admin)  # already open: idempotent, whatever the cap
    assert again.status_code == 200 and again.json_body["changed"] is False
    assert _events(client, tokens, gid) == ["created", "resolved", "reopened"]
