"""Incident Hub over HTTP: intake, the two field stories, scrubbing, limits, backend capture, grouping and triage."""

from __future__ import annotations

import dataclasses
import json
import threading
from urllib.parse import quote

import pytest

from chalicelib.core import observability
from chalicelib.incidents import capture, domain, service, store

SCHEDULE_409 = {
    "error": {
        "code": "schedule_has_attendance",
        "message": "Cannot delete schedule with attendance records.",
        "details": {"schedule_id": "01J9ZK3M4N5P6Q7R8S9T0V1W2X", "attendance_records": 3},
    }
}


def post(client, path, body, token=None, headers=None):
    h = {"Content-Type": "application/json", **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {token}"
    return client.http.post(path, headers=h, body=body if isinstance(body, (str, bytes)) else json.dumps(body))


def get(client, path, token=None):
    return client.http.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})


def incident(**kw):
    base = {"area": "customers.homework.upload", "message": "Upload failed", "location": "https://app.example/customer/homework"}
    return {**base, **kw}


def group_of(client, tokens, group_id, query=""):
    r = get(client, f"/admin/incidents/groups/{group_id}{query}", tokens.admin)
    assert r.status_code == 200, r.body
    return r.json_body


@pytest.fixture
def clock():
    """The intake's clock, pinned to the start of a window (tests move it explicitly), in an intake of
    this test's own (the app uses it; this container's flood guesses start empty)."""

    class Clock:
        now = 1_800_000_000.0

        def __call__(self):
            return self.now

    c = Clock()
    service.use_intake(service.Intake(clock=c))
    yield c
    service.use_intake(None)


@pytest.fixture
def hub(clock):
    """The intake the app uses in this test (limits, clock, flood guesses, the store's write)."""
    return service.intake()


@pytest.fixture
def limits(hub):
    def set_(**kw):
        hub.limits = dataclasses.replace(hub.limits, **kw)

    return set_


# --- the two field stories -----------------------------------------------------------------------


def test_story_homework_upload_failing_with_backend_413(client, tokens, clock):
    body = {
        "area": "customers.homework.upload",
        "message": "Upload failed. Please try again.",
        "http_status": 413,
        "backend_error": {"message": "Request Entity Too Large"},
        "entities": [{"type": "homework", "id": "01JHW0000000000000000000AB"}, {"type": "student", "id": "stu-7"}],
        "location": "https://app.example/customer/homework?student=stu-7",
        "occurred_at": "2025-03-01T09:15:00+01:00",
        "request_id": "req-hw-1",
        "context": {"filename": "essay.pdf", "size_bytes": 31457280},
    }
    r = post(client, "/incidents", body, tokens.customer_a, headers={"User-Agent": "Mozilla/5.0 test"})
    assert r.status_code == 202, r.body
    assert set(r.json_body) == {"id", "group_id", "stored"} and r.json_body["stored"] is True
    detail = group_of(client, tokens, r.json_body["group_id"])
    assert detail["group"]["count"] == 1 and detail["group"]["http_status"] == 413 and detail["group"]["status"] == "open"
    [stored] = detail["items"]
    assert stored["id"] == r.json_body["id"]
    assert stored["actor"] == {"role": "customer", "id": "cust-a"}
    assert stored["entities"] == body["entities"]
    assert stored["http_status"] == 413
    assert stored["backend_error"] == {"message": "Request Entity Too Large"}
    assert stored["location"] == body["location"]
    assert stored["occurred_at"] == "2025-03-01T08:15:00.000Z"  # the client's clock, in UTC
    assert stored["received_at"].endswith("Z") and stored["received_at"] != stored["occurred_at"]  # the server's clock
    assert stored["request_id"] == "req-hw-1" and stored["source"] == "frontend"
    assert stored["user_agent"] == "Mozilla/5.0 test" and stored["context"] == body["context"]
    raw = store.Incident.get(stored["id"])  # the stored record itself, not only the API's view of it
    assert raw.actor_role == "customer" and raw.actor_id == "cust-a" and raw.http_status == 413


def test_story_schedule_delete_failing_with_backend_409(client, tokens, clock):
    body = {
        "area": "admin.academic.schedules.delete",
        "message": "Failed to remove schedule. Please try again.",
        "http_status": 409,
        "backend_error": SCHEDULE_409,
        "entities": [{"type": "schedule", "id": "01J9ZK3M4N5P6Q7R8S9T0V1W2X"}],
        "location": "https://app.example/admin/academic/schedules/01J9ZK3M4N5P6Q7R8S9T0V1W2X",
        "occurred_at": "2025-03-01T10:00:00Z",
    }
    r = post(client, "/incidents", body, tokens.admin)
    assert r.status_code == 202, r.body
    detail = group_of(client, tokens, r.json_body["group_id"])
    # the vague UI message becomes the backend's truth in the group's title
    assert detail["group"]["title"] == "schedule_has_attendance Cannot delete schedule with attendance records."
    assert detail["group"]["area"] == "admin.academic.schedules.delete" and detail["group"]["source"] == "frontend"
    [stored] = detail["items"]
    assert stored["actor"] == {"role": "admin", "id": "admin-1"}
    assert stored["entities"] == [{"type": "schedule", "id": "01J9ZK3M4N5P6Q7R8S9T0V1W2X"}]
    assert stored["http_status"] == 409 and stored["backend_error"] == SCHEDULE_409
    assert stored["message"] == "Failed to remove schedule. Please try again."
    assert stored["location"] == body["location"]
    assert stored["occurred_at"] == "2025-03-01T10:00:00.000Z" and stored["received_at"].endswith("Z")
    latest = detail["group"]["latest"]
    assert latest["id"] == stored["id"] and latest["backend_error"] == SCHEDULE_409 and latest["actor"]["id"] == "admin-1"


# --- scrubbing, limits, actor --------------------------------------------------------------------


def test_secrets_are_scrubbed_before_storage(client, tokens, clock):
    jwt_like = tokens.customer_a
    body = incident(
        message=f"failed with Authorization: Bearer {jwt_like}",
        backend_error={"error": {"code": "x", "message": "bad", "details": {"session": "s-9"}}, "headers": [["Cookie", "sid=1"]]},
        location="https://app.example/pay?api_key=K123&page=2",
        context={
            "request": {"headers": {"Authorization": f"Bearer {jwt_like}", "X-Api-Key": "K456"}, "body": {"password": "hunter2"}},
            "form": [{"name": "card", "value": "4111-1111-1111-1111"}, {"name": "csrf_token", "value": "T789"}],
            "note": f"token was {jwt_like}",
        },
    )
    r = post(client, "/incidents", body, tokens.customer_a)
    assert r.status_code == 202, r.body
    [stored] = group_of(client, tokens, r.json_body["group_id"])["items"]
    text = json.dumps(stored)
    for secret in (jwt_like, jwt_like.split(".")[1], "s-9", "sid=1", "K123", "K456", "hunter2", "4111-1111-1111-1111", "T789"):
        assert secret not in text, secret
    assert "page=2" in stored["location"] and stored["context"]["request"]["body"]["password"] == "[REDACTED]"


def test_oversize_body_is_413_and_a_stub_is_stored(client, tokens, clock):
    body = incident(http_status=500, backend_error={"error": {"code": "boom"}}, context={"blob": "x" * 70_000})
    r = post(client, "/incidents", body, tokens.customer_a)
    assert r.status_code == 413, r.body
    err = r.json_body["error"]
    assert err["code"] == "payload_too_large" and err["details"]["max_bytes"] == 64 * 1024
    assert err["details"]["size_bytes"] > 70_000
    detail = group_of(client, tokens, err["details"]["group_id"])
    [stub] = detail["items"]
    assert stub["id"] == err["details"]["id"]
    assert stub["dropped"] == {"reason": "payload_too_large", "size_bytes": err["details"]["size_bytes"], "max_bytes": 65536}
    assert stub["context"] is None and stub["backend_error"] is None
    assert stub["actor"] == {"role": "customer", "id": "cust-a"} and stub["area"] == "customers.homework.upload"
    # the stub lands in the group the full report would have joined
    ok = post(client, "/incidents", incident(http_status=500, backend_error={"error": {"code": "boom"}}), tokens.customer_a)
    assert ok.json_body["group_id"] == err["details"]["group_id"]


def test_body_over_one_megabyte_is_a_plain_413(client, tokens, clock):
    r = post(client, "/incidents", incident(context={"blob": "x" * (1024 * 1024 + 10)}), tokens.customer_a)
    assert r.status_code == 413
    assert get(client, "/admin/incidents", tokens.admin).json_body["items"] == []


def test_large_fields_are_truncated_with_markers(client, tokens, clock):
    body = incident(
        message="m" * 5000,
        backend_error={"trace": "t" * 30_000},
        context={"rows": list(range(3000))},
        entities=[{"type": "student", "id": f"s{i}"} for i in range(40)],
    )
    r = post(client, "/incidents", body, tokens.customer_a)
    assert r.status_code == 202, r.body
    [stored] = group_of(client, tokens, r.json_body["group_id"])["items"]
    assert len(stored["message"]) == 2000 and "truncated" in stored["message"]
    assert domain.json_size(stored["backend_error"]) <= 16 * 1024 and domain.json_size(stored["context"]) <= 8 * 1024
    assert len(stored["entities"]) == 20
    assert {"message", "backend_error", "context", "entities (20 dropped)"} <= set(stored["truncated"])


@pytest.mark.parametrize("who", ["customer", "anonymous"])
def test_actor_in_the_body_is_ignored_and_kept_as_claimed(client, tokens, clock, who):
    token = tokens.customer_a if who == "customer" else None
    r = post(client, "/incidents", incident(actor={"role": "admin", "id": "admin-1"}), token)
    assert r.status_code == 202, r.body
    [stored] = group_of(client, tokens, r.json_body["group_id"])["items"]
    expected = {"role": "customer", "id": "cust-a"} if who == "customer" else {"role": "anonymous", "id": None}
    assert stored["actor"] == expected
    assert stored["claimed_actor"] == {"role": "admin", "id": "admin-1"}


def test_a_bad_token_is_401_not_anonymous(client, clock):
    r = post(client, "/incidents", incident(), "not-a-jwt")
    assert r.status_code == 401 and r.json_body["error"]["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"area": None}, "area"),
        ({"location": None}, "location"),
        ({"message": ""}, "message"),
        ({"area": "backend.route.GET /x"}, "area"),
        ({"area": "has spaces"}, "area"),
        ({"http_status": 700}, "http_status"),
        ({"entities": [{"type": "schedule"}]}, "entities.0.id"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"source": "backend"}, "source"),
    ],
)
def test_validation_is_400_naming_the_field(client, clock, patch, field):
    body = {k: v for k, v in {**incident(), **patch}.items() if v is not None}
    r = post(client, "/incidents", body)
    assert r.status_code == 400, r.body
    assert field in r.json_body["error"]["details"]["fields"]


def test_absurdly_deep_json_is_400_not_500(client, clock):
    r = post(
        client, "/incidents", '{"area": "a.b", "message": "m", "location": "l", "context": ' + "[" * 50_000 + "]" * 50_000 + "}"
    )
    assert r.status_code == 400, r.body
    deep = '{"area": "a.b", "message": "m", "location": "l", "context": ' + "[" * 500 + "]" * 500 + "}"
    r = post(client, "/incidents", deep)
    assert r.status_code == 202, r.body


def test_area_is_case_insensitive(client, tokens, clock):
    a = post(client, "/incidents", incident(area="Customers.Homework.Upload")).json_body
    b = post(client, "/incidents", incident(area="customers.homework.upload")).json_body
    assert a["group_id"] == b["group_id"]


# --- rate limits and floods ----------------------------------------------------------------------


def test_anonymous_rate_limit_per_source_address(client, tokens, clock, limits, monkeypatch):
    from chalice.local import LambdaEventConverter

    limits(anonymous_per_window=3, actor_per_window=5)
    clock.now += 15  # 45 s left in the 60 s window
    for _ in range(3):
        assert post(client, "/incidents", incident()).status_code == 202
    r = post(client, "/incidents", incident())
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "45"
    assert r.json_body["error"]["code"] == "incident_rate_limited" and r.json_body["error"]["details"]["retry_after"] == 45
    # a signed-in customer has its own budget
    assert post(client, "/incidents", incident(), tokens.customer_a).status_code == 202
    # another address has its own budget
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "203.0.113.9")  # the address the test client sends
    assert post(client, "/incidents", incident()).status_code == 202
    # the next window starts clean, whatever TTL has (not) deleted
    monkeypatch.undo()
    limits(anonymous_per_window=3)
    clock.now += 60
    assert post(client, "/incidents", incident()).status_code == 202


def test_signed_in_actor_rate_limit(client, tokens, clock, limits):
    limits(actor_per_window=2)
    assert [post(client, "/incidents", incident(), tokens.customer_a).status_code for _ in range(3)] == [202, 202, 429]
    assert post(client, "/incidents", incident(), tokens.customer_b).status_code == 202


class DynamoCalls:
    """The DynamoDB calls every botocore client makes while active: (operation, table) in order."""

    def __init__(self, monkeypatch):
        from botocore.client import BaseClient

        self.calls: list[tuple[str, str]] = []
        real = BaseClient._make_api_call

        def counted(client, operation, params):
            if client.meta.service_model.service_name == "dynamodb":
                self.calls.append((operation, params.get("TableName", "").rsplit("-incident", 1)[-1] or "?"))
            return real(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counted)

    def take(self) -> list[tuple[str, str]]:
        out, self.calls = self.calls, []
        return out


def test_the_common_intake_is_two_dynamodb_calls_and_the_edges_say_what_they_add(client, tokens, clock, limits, monkeypatch):
    limits(actor_per_window=4)
    calls = DynamoCalls(monkeypatch)
    group, claim, put = ("UpdateItem", "-groups"), ("UpdateItem", "-limits"), ("PutItem", "s")
    # and the invocation's one rollup flush (chalicelib/metrics: stored/suppressed per group and area,
    # issue 19's "one batched flush per invocation"), after the answer's work
    rollup = ("TransactWriteItems", "?")
    codes = []
    for _ in range(6):
        codes.append(post(client, "/incidents", incident(), tokens.customer_a).status_code)
        codes.append(calls.take())
    assert codes == [
        # a new group, and this container's first share of the budget (2 of 4): claim, the guess (no
        # row: refused), the create, the timeline's "created", the row
        202, [claim, group, group, ("PutItem", "-timeline"), put, rollup],
        202, [group, put, rollup],  # the common path: an existing group, a hit from the container's share
        202, [claim, group, put, rollup],  # the share used up: claim what is left's half (1)
        202, [claim, group, put, rollup],  # the budget's last hit
        429, [],  # the window is full: this container knows, without asking again
        429, [],
    ]  # fmt: skip
    clock.now += 60  # the next window: a new share
    assert post(client, "/incidents", incident(), tokens.customer_a).status_code == 202
    assert calls.take() == [claim, group, put, rollup]
    assert post(client, "/incidents", incident(), tokens.customer_a).status_code == 202
    assert calls.take() == [group, put, rollup]


def test_the_rate_limit_is_exact_under_concurrent_intakes_in_many_containers(hub, aws, limits):
    """Three containers (their own shares), four threads each, every thread reporting until refused:
    exactly the budget is admitted, and the store's counter never passes it."""
    limits(actor_per_window=37)
    containers = [hub] + [dataclasses.replace(hub, leases=domain.RateLeases(), flooding=domain.FloodGuesses()) for _ in range(2)]
    admitted: list[int] = []
    barrier = threading.Barrier(12, timeout=10)
    actor = {"role": "customer", "id": "cust-a"}

    def go(intake: service.Intake) -> None:
        barrier.wait()
        n = 0
        while intake.check_rate(actor, "198.51.100.7") is None:
            n += 1
        admitted.append(n)

    _run_threads([lambda c=c: go(c) for c in containers for _ in range(4)], 12)
    assert sum(admitted) == 37
    window = domain.window_start(hub.clock(), hub.limits.rate_window_s)
    assert store.RateCounter.get(f"actor:customer:cust-a#{window}").hits == 37
    # another actor's budget is its own, and a refused container stays refused without a write
    assert containers[1].check_rate({"role": "customer", "id": "cust-b"}, "198.51.100.7") is None
    assert all(c.check_rate(actor, "198.51.100.7") is not None for c in containers)


def test_one_container_admits_exactly_the_budget_under_concurrency(hub, aws, limits):
    limits(anonymous_per_window=5)
    results: list[int | None] = []
    barrier = threading.Barrier(16, timeout=10)

    def go() -> None:
        barrier.wait()
        results.append(hub.check_rate({"role": "anonymous"}, "203.0.113.5"))

    _run_threads(go, 16)
    assert results.count(None) == 5 and all(r is not None and 0 < r <= 60 for r in results if r is not None)


def test_a_flood_from_one_page_collapses_into_the_group_count(client, tokens, clock, limits):
    limits(group_rows_per_window=3, actor_per_window=1000)
    results = [post(client, "/incidents", incident(http_status=500), tokens.customer_a).json_body for _ in range(8)]
    assert [r["stored"] for r in results] == [True] * 3 + [False] * 5
    detail = group_of(client, tokens, results[0]["group_id"])
    assert detail["group"]["count"] == 8 and detail["group"]["stored"] == 3 and detail["group"]["suppressed"] == 5
    assert len(detail["items"]) == 3
    assert detail["group"]["latest"]["id"] == results[-1]["id"] and detail["group"]["latest"]["stored"] is False


# --- backend capture -----------------------------------------------------------------------------


def test_the_app_installs_the_sink(app):
    assert capture.capture_unhandled in observability._sinks
    capture.install()  # idempotent: installing again adds nothing
    assert observability._sinks.count(capture.capture_unhandled) == 1


def test_a_route_that_raises_files_exactly_one_backend_incident(client, tokens, clock, monkeypatch):
    from chalicelib.students.store import Student
    from tests.faults import raising

    with raising(Student, "GetItem", RuntimeError("students table on fire: password=hunter2")):
        r = client.http.get("/admin/students/stu-9", headers={**tokens.h(tokens.admin), "X-Request-Id": "req-boom"})
    assert r.status_code == 500
    assert r.json_body == {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side; it has been recorded.",
            "details": {"request_id": "req-boom"},
        }
    }
    assert "on fire" not in r.body.decode() and "Traceback" not in r.body.decode()
    groups = get(client, "/admin/incidents?source=backend", tokens.admin).json_body["items"]
    assert len(groups) == 1 and groups[0]["count"] == 1
    g = groups[0]
    assert (
        g["area"] == "backend.route.GET /admin/students/{student_id}" and g["http_status"] == 500 and g["sources"] == ["backend"]
    )
    [inc] = group_of(client, tokens, g["group_id"])["items"]
    assert inc["source"] == "backend" and inc["request_id"] == "req-boom" and inc["http_status"] == 500
    assert inc["backend_error"] == {"type": "RuntimeError", "message": "students table on fire: password=[REDACTED]"}
    assert inc["origin"] == {"kind": "route", "route": "GET /admin/students/{student_id}"}
    assert inc["entities"] == [{"type": "student", "id": "stu-9"}]
    assert inc["actor"] == {"role": "admin", "id": "admin-1"}
    assert "hunter2" not in json.dumps(inc)
    # filterable by area (exact, case kept for backend areas)
    area = quote("backend.route.GET /admin/students/{student_id}")
    assert [x["group_id"] for x in get(client, f"/admin/incidents?area={area}", tokens.admin).json_body["items"]] == [
        g["group_id"]
    ]


def test_a_failure_while_recording_never_breaks_the_failing_request(client, tokens, hub, monkeypatch):
    from chalicelib.students.store import Student
    from tests.faults import raising

    def store_down(*a, **kw):
        raise ConnectionError("incident store unreachable")

    hub.update = store_down  # the intake's write: the incident store is down
    with raising(Student, "GetItem", RuntimeError("original failure")):
        r = client.http.get("/admin/students/stu-9", headers=tokens.h(tokens.admin))
    assert r.status_code == 500 and r.json_body["error"]["code"] == "internal_error"
    monkeypatch.undo()
    hub.update = store.update_item
    assert get(client, "/admin/incidents", tokens.admin).json_body["items"] == []


def test_a_failing_job_files_a_backend_incident(client, tokens, clock):
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import _report

    job = Job(job_id="01JOB0000000000000000000AA", type="ProcessVideoProof", entity_type="video", entity_id="vid-1")
    try:
        raise ValueError("moov atom not found in /tmp/vid-1.mp4")
    except ValueError as exc:
        _report(job, exc, permanent=True)
    [g] = get(client, "/admin/incidents?source=backend", tokens.admin).json_body["items"]
    assert g["area"] == "backend.job.ProcessVideoProof" and g["http_status"] is None
    [inc] = group_of(client, tokens, g["group_id"])["items"]
    assert inc["origin"] == {"kind": "job", "job_id": job.job_id, "job_type": "ProcessVideoProof", "permanent": True}
    assert inc["request_id"] == job.job_id and inc["entities"] == [{"type": "video", "id": "vid-1"}]
    assert inc["backend_error"]["type"] == "ValueError"


# --- grouping, triage, lists, auth ---------------------------------------------------------------


def test_grouping_resolve_and_regression_reopen(client, tokens, clock):
    def report(schedule_id, n):
        err = {"error": {"code": "schedule_has_attendance", "message": f"Schedule {schedule_id} has {n} attendance records."}}
        body = incident(area="admin.academic.schedules.delete", http_status=409, backend_error=err)
        return post(client, "/incidents", body, tokens.admin).json_body

    first = report("01J9ZK3M4N5P6Q7R8S9T0V1W2X", 3)
    second = report("01K0AB3M4N5P6Q7R8S9T0V1W2Y", 11)
    assert first["group_id"] == second["group_id"]
    gid = first["group_id"]
    g = group_of(client, tokens, gid)["group"]
    assert g["count"] == 2 and g["first_seen"] <= g["last_seen"] and g["status"] == "open"

    r = post(client, f"/admin/incidents/groups/{gid}/resolve", {"note": "fixed in deploy 42"}, tokens.admin)
    assert r.status_code == 200 and r.json_body["changed"] is True
    assert r.json_body["group"]["status"] == "resolved" and r.json_body["group"]["resolution_note"] == "fixed in deploy 42"
    assert r.json_body["group"]["resolved_by"] == {"role": "admin", "id": "admin-1"}
    again = post(client, f"/admin/incidents/groups/{gid}/resolve", "", tokens.admin)
    assert again.status_code == 200 and again.json_body["changed"] is False and again.json_body["group"]["status"] == "resolved"
    assert [x["group_id"] for x in get(client, "/admin/incidents?status=resolved", tokens.admin).json_body["items"]] == [gid]
    assert get(client, "/admin/incidents?status=open", tokens.admin).json_body["items"] == []

    report("01K0AB3M4N5P6Q7R8S9T0V1W2Z", 1)  # it happens again: a regression
    g = group_of(client, tokens, gid)["group"]
    assert g["status"] == "open" and g["count"] == 3 and g["regressions"] == 1
    assert g["reopened_by"] == {"role": "system", "id": "regression"}

    r = post(client, f"/admin/incidents/groups/{gid}/reopen", {}, tokens.admin)
    assert r.status_code == 200 and r.json_body["changed"] is False
    post(client, f"/admin/incidents/groups/{gid}/resolve", {}, tokens.admin)
    r = post(client, f"/admin/incidents/groups/{gid}/reopen", {}, tokens.admin)
    assert r.json_body["changed"] is True and r.json_body["group"]["reopened_by"] == {"role": "admin", "id": "admin-1"}

    actions = [e["action"] for e in get(client, "/admin/audit", tokens.admin).json_body["items"]]
    assert actions.count("incident_group.resolve") == 3 and actions.count("incident_group.reopen") == 2
    entry = next(
        e for e in get(client, "/admin/audit", tokens.admin).json_body["items"] if e["action"] == "incident_group.resolve"
    )
    assert entry["target"] == f"incident_group:{gid}"


def test_unknown_group_is_404(client, tokens):
    assert get(client, "/admin/incidents/groups/nope", tokens.admin).status_code == 404
    r = post(client, "/admin/incidents/groups/nope/resolve", {}, tokens.admin)
    assert r.status_code == 404 and r.json_body["error"]["code"] == "incident_group_not_found"


def test_a_malformed_group_id_is_404_before_any_lookup(client, tokens):
    for path in ("/admin/incidents/groups/has%20space", "/admin/incidents/groups/" + "a" * 65 + "/resolve"):
        call = client.http.post if path.endswith("/resolve") else client.http.get
        r = call(path, headers=tokens.h(tokens.admin))
        assert r.status_code == 404 and r.json_body["error"]["code"] == "group_not_found", r.body


def test_list_filters_order_and_pagination(client, tokens, clock):
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    made = []
    for i, area in enumerate(["customers.homework.upload", "admin.academic.schedules.delete", "customers.videos.upload"]):
        clock.now = (t0 + timedelta(minutes=i)).timestamp()
        made.append(post(client, "/incidents", incident(area=area, message=f"e{i}"), tokens.customer_a).json_body["group_id"])

    items = get(client, "/admin/incidents", tokens.admin).json_body["items"]
    assert [g["group_id"] for g in items] == made[::-1]  # newest last_seen first
    assert [
        g["group_id"] for g in get(client, "/admin/incidents?area=customers.homework.upload", tokens.admin).json_body["items"]
    ] == [made[0]]
    assert len(get(client, "/admin/incidents?source=frontend", tokens.admin).json_body["items"]) == 3
    assert get(client, "/admin/incidents?source=backend", tokens.admin).json_body["items"] == []
    since = quote((t0 + timedelta(seconds=30)).isoformat())
    assert [g["group_id"] for g in get(client, f"/admin/incidents?since={since}", tokens.admin).json_body["items"]] == made[:0:-1]
    combo = get(client, "/admin/incidents?status=open&source=frontend&area=customers.videos.upload", tokens.admin).json_body
    assert [g["group_id"] for g in combo["items"]] == [made[2]]

    seen, token = [], None
    while True:
        page = get(client, "/admin/incidents?limit=2" + (f"&next_token={token}" if token else ""), tokens.admin).json_body
        seen += [g["group_id"] for g in page["items"]]
        token = page["next_token"]
        if not token:
            break
    assert seen == made[::-1]


def test_group_incidents_are_paginated_newest_first(client, tokens, clock):
    ids = [post(client, "/incidents", incident(), tokens.customer_a).json_body for _ in range(5)]
    gid = ids[0]["group_id"]
    seen, token = [], None
    while True:
        page = group_of(client, tokens, gid, "?limit=2" + (f"&next_token={token}" if token else ""))
        assert page["group"]["group_id"] == gid
        seen += [i["id"] for i in page["items"]]
        token = page["next_token"]
        if not token:
            break
    assert seen == [x["id"] for x in ids][::-1]


@pytest.mark.parametrize("query", ["status=closed", "source=elsewhere", "since=yesterday", "limit=0", "next_token=%%%"])
def test_bad_list_parameters_are_400(client, tokens, query):
    assert get(client, f"/admin/incidents?{query}", tokens.admin).status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/incidents"),
        ("GET", "/admin/incidents/groups/g1"),
        ("POST", "/admin/incidents/groups/g1/resolve"),
        ("POST", "/admin/incidents/groups/g1/reopen"),
    ],
)
def test_triage_is_admin_only(client, tokens, method, path):
    call = client.http.get if method == "GET" else client.http.post
    assert call(path, headers={"Content-Type": "application/json"}).status_code == 401
    assert call(path, headers=tokens.h(tokens.customer_a)).status_code == 403
    assert call(path, headers=tokens.h(tokens.admin)).status_code in (200, 404)


def test_the_reporter_script_is_served(client):
    r = client.http.get("/static/incident-reporter.js")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/javascript")
    text = r.body.decode()
    assert "export function reportIncident" in text and "export function reportingFetch" in text


def test_filtered_lists_paginate_too(client, tokens, clock):
    made = [
        post(client, "/incidents", incident(message=f"distinct failure {c}"), tokens.customer_a).json_body["group_id"]
        for c in "abc"
    ]
    post(client, f"/admin/incidents/groups/{made[1]}/resolve", {}, tokens.admin)
    seen, token = [], None
    while True:
        q = "/admin/incidents?area=customers.homework.upload&status=open&limit=1" + (f"&next_token={token}" if token else "")
        page = get(client, q, tokens.admin).json_body
        seen += [g["group_id"] for g in page["items"]]
        token = page["next_token"]
        if not token:
            break
    assert sorted(seen) == sorted([made[0], made[2]])


# --- the group's flood window (one conditional UpdateItem per intake) ----------------------------


def _draft(message: str = "Upload failed") -> domain.Draft:
    return domain.build_draft(
        source="frontend", area="customers.homework.upload", message=message, actor={"role": "customer", "id": "cust-a"}
    )


def _group(gid: str) -> dict:
    return store.group_dict(store.get_group(gid))


def test_a_new_flood_window_stores_rows_again(client, tokens, clock, limits):
    limits(group_rows_per_window=2, group_window_s=600, actor_per_window=1000)
    first = [post(client, "/incidents", incident(), tokens.customer_a).json_body for _ in range(3)]
    assert [r["stored"] for r in first] == [True, True, False]
    clock.now += 599  # still the same window
    assert post(client, "/incidents", incident(), tokens.customer_a).json_body["stored"] is False
    clock.now += 1  # the next window
    second = [post(client, "/incidents", incident(), tokens.customer_a).json_body for _ in range(3)]
    assert [r["stored"] for r in second] == [True, True, False]
    detail = group_of(client, tokens, first[0]["group_id"])
    g = detail["group"]
    assert (g["count"], g["stored"], g["suppressed"]) == (7, 4, 3)
    assert {i["id"] for i in detail["items"]} == {r["id"] for r in first + second if r["stored"]}
    assert g["latest"]["id"] == second[-1]["id"] and g["latest"]["stored"] is False
    assert store.Incident.count() == 4  # suppressed incidents have no row


def test_a_flooding_group_counts_without_rows_and_keeps_what_is_set_once(hub, aws, limits):
    limits(group_rows_per_window=1)
    stored = [hub.record(_draft(f"Upload failed {n}"))[2] for n in range(4)]  # one group: numbers are normalised
    assert stored == [True, False, False, False]
    [row] = list(store.Incident.scan())
    g = _group(row.group_id)
    assert (g["count"], g["stored"], g["suppressed"]) == (4, 1, 3)
    assert g["title"] == "Upload failed 0" and g["first_seen"] == row_received(row)  # set by the first, kept
    assert g["latest"]["message"] == "Upload failed 3" and g["last_seen"] >= g["first_seen"]


def test_a_flood_costs_one_group_write_per_intake(clock, hub, aws, limits):
    limits(group_rows_per_window=2)
    writes: list[str | None] = []
    real_update = store.update_item

    def counted(model, key, update, names, values, condition=None, return_values="NONE"):
        if model is store.IncidentGroup:
            writes.append(condition)
        return real_update(model, key, update, names, values, condition, return_values)

    hub.update = counted
    assert [hub.record(_draft())[2] for _ in range(3)] == [True, True, False]
    writes.clear()
    assert [hub.record(_draft())[2] for _ in range(3)] == [False] * 3
    assert len(writes) == 3 and all("#fr >= :lim" in c for c in writes)  # no failed guess first
    clock.now += hub.limits.group_window_s  # the guess is for one window only
    assert hub.record(_draft())[2] is True
    g = _group(_draft().group_id)
    assert (g["count"], g["stored"], g["suppressed"]) == (7, 3, 4)


def test_a_wrong_flood_guess_costs_a_retry_not_a_row(clock, hub, aws, limits):
    limits(group_rows_per_window=2)
    draft = _draft()
    window = int(clock.now // hub.limits.group_window_s) * hub.limits.group_window_s
    hub.flooding.saw(draft.group_id, window, stored=False)  # e.g. left by a table that was since emptied
    assert hub.record(draft)[2] is True
    assert draft.group_id not in hub.flooding
    g = _group(draft.group_id)
    assert (g["count"], g["stored"], g["suppressed"]) == (1, 1, 0)


def row_received(row: store.Incident) -> str | None:
    from chalicelib.core.db import iso

    return iso(row.received_at)


@pytest.mark.parametrize("new_window", [False, True])
def test_a_regression_reopens_and_counts_whatever_the_window(client, tokens, clock, hub, limits, new_window):
    limits(group_rows_per_window=2, actor_per_window=1000)
    gid = post(client, "/incidents", incident(), tokens.customer_a).json_body["group_id"]
    assert post(client, f"/admin/incidents/groups/{gid}/resolve", {}, tokens.admin).json_body["changed"] is True
    if new_window:
        clock.now += hub.limits.group_window_s
    r = post(client, "/incidents", incident(), tokens.customer_a).json_body
    assert r["stored"] is True
    g = group_of(client, tokens, gid)["group"]
    assert g["status"] == "open" and g["regressions"] == 1 and g["count"] == 2 and g["stored"] == 2
    assert g["reopened_by"] == {"role": "system", "id": "regression"} and g["reopened_at"] == g["last_seen"]
    # the next one is an ordinary intake: no second regression
    post(client, "/incidents", incident(), tokens.customer_a)
    g = group_of(client, tokens, gid)["group"]
    assert g["regressions"] == 1 and g["count"] == 3 and g["suppressed"] == (0 if new_window else 1)


def test_a_regression_while_flooding_reopens_without_a_row(client, tokens, clock, limits):
    limits(group_rows_per_window=1, actor_per_window=1000)
    gid = post(client, "/incidents", incident(), tokens.customer_a).json_body["group_id"]
    post(client, f"/admin/incidents/groups/{gid}/resolve", {}, tokens.admin)
    r = post(client, "/incidents", incident(), tokens.customer_a).json_body
    assert r["stored"] is False
    g = group_of(client, tokens, gid)["group"]
    assert g["status"] == "open" and g["regressions"] == 1 and (g["count"], g["stored"], g["suppressed"]) == (2, 1, 1)


def test_a_group_written_before_flood_windows_starts_one(hub, aws, limits):
    from chalicelib.core.db import utcnow

    limits(group_rows_per_window=2)
    draft = _draft()
    legacy = store.IncidentGroup(group_id=draft.group_id, area=draft.area, source="frontend", title="old title", count=5)
    legacy.suppressed, legacy.status, legacy.first_seen, legacy.last_seen = 1, "open", utcnow(), utcnow()
    legacy.save()  # no flood_window / flood_rows
    assert [hub.record(draft)[2] for _ in range(3)] == [True, True, False]
    g = _group(draft.group_id)
    assert (g["count"], g["stored"], g["suppressed"]) == (8, 6, 2) and g["title"] == "old title"


def test_concurrent_intakes_never_pass_the_flood_limit(hub, aws, limits):
    limits(group_rows_per_window=5)
    for _ in range(3):
        hub.record(_draft())
    results: list[bool] = []
    barrier = threading.Barrier(8, timeout=10)

    def go() -> None:
        barrier.wait()
        results.append(hub.record(_draft())[2])

    _run_threads(go, 8)
    assert sorted(results) == [False] * 6 + [True] * 2  # exactly the two rows left in the window
    g = _group(_draft().group_id)
    assert (g["count"], g["stored"], g["suppressed"]) == (11, 5, 6)
    assert store.Incident.count() == 5


def test_concurrent_first_intakes_create_one_group(hub, aws, limits):
    limits(group_rows_per_window=3)
    results: list[tuple[str, str, bool]] = []
    barrier = threading.Barrier(8, timeout=10)

    def go() -> None:
        barrier.wait()
        results.append(hub.record(_draft()))

    _run_threads(go, 8)
    assert len({gid for _, gid, _ in results}) == 1 and sum(s for _, _, s in results) == 3
    g = _group(results[0][1])
    assert (g["count"], g["stored"], g["suppressed"], g["status"]) == (8, 3, 5, "open")
    assert g["area"] == "customers.homework.upload" and g["title"] == "Upload failed" and g["first_seen"]
    assert store.Incident.count() == 3


def test_concurrent_intakes_into_a_resolved_group_count_one_regression(hub, aws, limits):
    limits(group_rows_per_window=100)
    gid = hub.record(_draft())[1]
    hub.set_status(gid, "resolved", {"role": "admin", "id": "admin-1"})
    barrier = threading.Barrier(8, timeout=10)
    _run_threads(lambda: (barrier.wait(), hub.record(_draft())), 8)
    g = _group(gid)
    assert g["status"] == "open" and g["regressions"] == 1 and g["count"] == 9 and g["stored"] == 9


def test_a_write_that_lost_a_race_is_redone_from_the_row_it_saw(hub, aws, limits):
    """Deterministic: another intake creates the group between our failed guess and our create."""
    limits(group_rows_per_window=1)
    real_update = store.update_item
    seen: list[str | None] = []
    other = dataclasses.replace(hub, update=real_update)  # another intake in this container: same clock and guesses

    def interleaved(model, key, update, names, values, condition=None, return_values="NONE"):
        seen.append(condition)
        if condition == "attribute_not_exists(#id)" and seen.count(condition) == 1:
            assert other.record(_draft("Upload failed 2"))[2] is True  # takes the window's only row
        return real_update(model, key, update, names, values, condition, return_values)

    hub.update = interleaved
    _, gid, stored = hub.record(_draft("Upload failed 1"))  # the same group: numbers are normalised
    assert stored is False
    # guess (no row) -> create (lost: the other intake created it) -> flood, counted as suppressed
    assert [c for c in seen if c and "#id" in c] == ["attribute_not_exists(#id)"]
    assert seen[-1] is not None and "#fr >= :lim" in seen[-1]
    g = _group(gid)
    assert (g["count"], g["stored"], g["suppressed"]) == (2, 1, 1) and g["latest"]["message"] == "Upload failed 1"


def _run_threads(target, n: int) -> None:
    targets = target if isinstance(target, list) else [target] * n
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
