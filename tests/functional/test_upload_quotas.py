"""Per-customer daily upload quotas: count and bytes, atomic, windowed by key, 429 + Retry-After + incident."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from chalicelib.core.settings import MB, get_settings
from chalicelib.media import quota
from tests.media_support import get, post

DAY = quota.DAY_S
NOON = 20_000 * DAY + DAY // 2  # a fixed UTC noon: 12 h to the next day


@pytest.fixture
def caps(monkeypatch):
    def set_caps(count: int, max_bytes: int) -> None:
        capped = dataclasses.replace(get_settings(), upload_quota_count=count, upload_quota_bytes=max_bytes)
        monkeypatch.setattr(quota, "config", dataclasses.replace(quota.config, settings=lambda: capped))

    monkeypatch.setattr(quota, "config", quota.QuotaConfig(clock=lambda: NOON))
    return set_caps


@pytest.fixture
def students(client, tokens):
    a = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]
    b = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-b", "name": "Bob"}).json_body["id"]
    return a, b


def _homework(client, token, student, size=100, **over):
    body = {"student_id": student, "filename": "essay.pdf", "content_type": "application/pdf", "size_bytes": size, **over}
    return post(client, "/customer/homework", token, body)


def _video(client, token, student, size=100):
    body = {"student_id": student, "filename": "proof.mp4", "content_type": "video/mp4", "size_bytes": size}
    return post(client, "/customer/videos", token, body)


def test_over_the_daily_count_is_429_with_retry_after_and_an_incident(client, tokens, students, caps):
    caps(3, 1024 * MB)
    a, b = students
    assert [_homework(client, tokens.customer_a, a).status_code for _ in range(2)] == [201, 201]
    assert _video(client, tokens.customer_a, a).status_code == 201  # homework and videos share the quota
    r = _homework(client, tokens.customer_a, a)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == str(DAY // 2)
    err = r.json_body["error"]
    assert err["code"] == "upload_quota_exceeded" and err["details"]["uploads_today"] == 3
    assert err["details"]["max_uploads_per_day"] == 3 and err["details"]["retry_after"] == DAY // 2
    assert _video(client, tokens.customer_a, a).status_code == 429
    assert len(get(client, "/customer/homework", tokens.customer_a).json_body["items"]) == 2  # nothing made on refusal
    assert quota.usage("cust-a", NOON) == (3, 300)  # refusals are not counted

    assert _homework(client, tokens.customer_b, b).status_code == 201  # per customer

    groups = get(client, "/admin/incidents?source=backend", tokens.admin).json_body["items"]
    quota_groups = [g for g in groups if g["area"].endswith("upload.quota")]
    assert {g["area"] for g in quota_groups} == {"customers.homework.upload.quota", "customers.videos.upload.quota"}
    assert all(g["http_status"] == 429 for g in quota_groups)


def test_over_the_daily_bytes_is_429_and_a_smaller_file_still_fits(client, tokens, students, caps):
    caps(100, 10 * MB)
    a, _ = students
    assert _video(client, tokens.customer_a, a, size=6 * MB).status_code == 201
    r = _video(client, tokens.customer_a, a, size=5 * MB)
    assert r.status_code == 429 and r.json_body["error"]["details"]["bytes_today"] == 6 * MB
    assert "bytes" in r.json_body["error"]["message"]
    assert _homework(client, tokens.customer_a, a, size=4 * MB).status_code == 201  # exactly up to the cap
    assert _homework(client, tokens.customer_a, a, size=1).status_code == 429
    assert quota.usage("cust-a", NOON) == (2, 10 * MB)


def test_a_new_day_is_a_new_window_whatever_ttl_did(client, tokens, students, caps, monkeypatch):
    caps(1, 1024 * MB)
    a, _ = students
    assert _homework(client, tokens.customer_a, a).status_code == 201
    assert _homework(client, tokens.customer_a, a).status_code == 429
    midnight = dataclasses.replace(quota.config, clock=lambda: NOON + DAY // 2)  # midnight exactly: the next day
    monkeypatch.setattr(quota, "config", midnight)
    assert _homework(client, tokens.customer_a, a).status_code == 201
    assert quota.usage("cust-a", NOON) == (1, 100)  # yesterday's row is still there, and not read


def test_a_file_bigger_than_a_days_bytes_is_413_not_a_wait(client, tokens, students, caps):
    caps(100, 1 * MB)
    a, _ = students
    r = _video(client, tokens.customer_a, a, size=2 * MB)
    assert r.status_code == 413 and r.json_body["error"]["code"] == "exceeds_daily_quota"
    assert "Retry-After" not in r.headers
    assert quota.usage("cust-a", NOON) == (0, 0)


def test_bad_input_never_counts(client, tokens, students, caps):
    caps(1, 1024 * MB)
    a, b = students
    assert _homework(client, tokens.customer_a, a, content_type="application/x-msdownload").status_code == 400
    assert _homework(client, tokens.customer_a, b).status_code == 404  # not her student
    assert _homework(client, tokens.customer_a, a, size=10**12).status_code == 413  # over the homework cap
    assert quota.usage("cust-a", NOON) == (0, 0)
    assert _homework(client, tokens.customer_a, a).status_code == 201


def test_concurrent_starts_never_overshoot(aws, caps):
    caps(5, 1024 * MB)
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def go():
        barrier.wait()
        try:
            quota.reserve("cust-z", 10, "homework")
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=go) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["RateLimited"] * 7 + ["ok"] * 5
    assert quota.usage("cust-z", NOON) == (5, 50)
