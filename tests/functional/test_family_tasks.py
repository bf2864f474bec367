"""What a family sees of its student's tasks: today's and past instances, own students only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.tasks import domain
from tests.media_support import post


def get(client, path, token):
    return client.http.get(path, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def family(client, tokens):
    sid = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]
    other = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-b", "name": "Bob"}).json_body["id"]
    return {"student": sid, "other": other}


def _task(client, tokens, sid, **kw):
    r = post(client, "/admin/tasks", tokens.admin, {"title": "Read", "student_id": sid, "recurrence": "daily", **kw})
    assert r.status_code == 201, r.body
    return r.json_body["task"]


def test_family_sees_today_and_past_never_the_future(client, tokens, family):
    from chalicelib.tasks import service

    today = datetime.now(UTC).date()
    task = _task(client, tokens, family["student"], timezone="UTC", starts_on=(today - timedelta(days=5)).isoformat())
    once = _task(client, tokens, family["student"], recurrence="none", title="Essay", timezone="UTC")
    # the backfill writes the past days and the scheduler's future one exists too: the family sees neither future
    service.backfill(today - timedelta(days=5), today, apply=True, cursor=None, limit=100, task_id=task["id"])
    from chalicelib.tasks.store import TaskInstance

    now = datetime.now(UTC)
    tomorrow = (today + timedelta(days=1)).isoformat()
    TaskInstance(task_id=task["id"], date=tomorrow, series="daily", source="scheduler", created_at=now, updated_at=now).save()
    r = client.http.patch(
        f"/admin/tasks/{task['id']}/instances/{today.isoformat()}", headers=tokens.h(tokens.admin), body='{"status": "done"}'
    )
    assert r.status_code == 200, r.body

    r = get(client, f"/customer/students/{family['student']}/tasks", tokens.customer_a)
    assert r.status_code == 200, r.body
    by_id = {t["id"]: t for t in r.json_body["items"]}
    assert set(by_id) == {task["id"], once["id"]} and r.json_body["truncated"] is False
    daily = by_id[task["id"]]
    assert daily["today"] == today.isoformat()
    assert [i["date"] for i in daily["instances"]] == [(today - timedelta(days=n)).isoformat() for n in range(6)]
    assert daily["instances"][0]["status"] == "done" and daily["instances"][0]["done_at"]
    assert [i["date"] for i in by_id[once["id"]]["instances"]] == [today.isoformat()]

    r = get(
        client,
        f"/customer/students/{family['student']}/tasks?from={today - timedelta(days=2)}&to={today - timedelta(days=1)}",
        tokens.customer_a,
    )
    assert [i["date"] for i in {t["id"]: t for t in r.json_body["items"]}[task["id"]]["instances"]] == [
        (today - timedelta(days=1)).isoformat(),
        (today - timedelta(days=2)).isoformat(),
    ]


def test_other_families_and_unknown_students_are_404(client, tokens, family):
    _task(client, tokens, family["student"])
    for sid in (family["other"], "01JZZZZZZZZZZZZZZZZZZZZZZZ"):
        r = get(client, f"/customer/students/{sid}/tasks", tokens.customer_a)
        assert r.status_code == 404 and r.json_body["error"]["code"] == "student_not_found", r.body
    r = get(client, f"/customer/students/{family['student']}/tasks", tokens.customer_b)
    assert r.status_code == 404
    assert get(client, f"/customer/students/{family['student']}/tasks", tokens.admin).status_code == 403


@pytest.mark.parametrize(
    "query",
    ["from=2030-01-10&to=2030-01-01", "from=2030-01-01&to=2030-03-15", "from=yesterday", "to=2030-02-30", "from=2030-1-1"],
)
def test_bad_ranges_are_400(client, tokens, family, query):
    r = get(client, f"/customer/students/{family['student']}/tasks?{query}", tokens.customer_a)
    assert r.status_code == 400, (query, r.body)


def test_a_student_without_tasks_is_an_empty_list(client, tokens, family):
    r = get(client, f"/customer/students/{family['student']}/tasks", tokens.customer_a)
    assert r.status_code == 200 and r.json_body == {"student_id": family["student"], "items": [], "truncated": False}


def test_family_window_rules():
    today = date(2030, 5, 20)
    assert domain.family_window(today, None, None) == (date(2030, 5, 7), today)
    assert domain.family_window(today, None, date(2030, 6, 1)) == (date(2030, 5, 7), today)  # never the future
    assert domain.family_window(today, date(2030, 5, 1), date(2030, 5, 3)) == (date(2030, 5, 1), date(2030, 5, 3))
    start, end = domain.family_window(today, date(2030, 5, 25), None)  # all of it after today: empty
    assert start > end
    with pytest.raises(ValueError):
        domain.family_window(today, date(2030, 5, 3), date(2030, 5, 1))
    with pytest.raises(ValueError):
        domain.family_window(today, date(2030, 1, 1), date(2030, 3, 31))
