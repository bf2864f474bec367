"""Incident Hub domain rules: scrubbing, truncation, normalisation and fingerprints (no AWS)."""

from __future__ import annotations

import json

import pytest

from chalicelib.incidents import domain
from chalicelib.incidents.domain import LIMITS, REDACTED

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjdXN0LWEiLCJyb2xlIjoiY3VzdG9tZXIifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
VISA = "4111 1111 1111 1111"


def _all_strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _all_strings(v)
    else:
        yield str(value)


NASTY = {
    "Password": "hunter2",
    "user": {"name": "Ada", "PASSWD": "x1", "profile": {"api_key": "k-123", "Api-Key": "k-456", "apiKey": "k-789"}},
    "headers": [
        {"Authorization": "Bearer abc.def.ghi"},
        {"name": "Set-Cookie", "value": "sid=1"},
        {"X-Session-Id": "s-1"},
        ["Cookie", "theme=dark; sid=2"],
    ],
    "list_of_lists": [[{"client_secret": "cs"}], [["deep", {"refresh_token": {"nested": "rt"}}]]],
    "free_text": f"called with Authorization: Bearer sk_live_abcdefghijklmnop and jwt {JWT}",
    "url": "https://academy.example/pay?card=4242424242424242&access_token=tok123&page=2",
    "log": 'POST body {"password": "p@ss", "name": "x"}',
    "card": VISA,
    "card_number_as_int": 5555555555554444,
    "order_id": 1234567890123,  # 13 digits, starts with 1: not card-like
    "not_a_card": "4111 1111 1111 1112",  # fails Luhn
    "keep": "schedule 01J9ZK3M4N5P6Q7R8S9T0V1W2X has attendance",
}


def test_scrub_nasty_nested_input():
    out = domain.scrub(NASTY)
    text = json.dumps(out)
    secrets = ("hunter2", "x1", "k-123", "k-456", "k-789", "abc.def.ghi", "sid=1", "sid=2", "s-1", '"cs"', '"rt"', "sk_live")
    for secret in (*secrets, "tok123", "p@ss"):
        assert secret not in text, secret
    assert JWT not in text and "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" not in text
    assert "4111" not in text.replace("4111 1111 1111 1112", "") and "4242424242424242" not in text
    assert out["card_number_as_int"] == "[REDACTED_CARD]"
    assert out["order_id"] == 1234567890123
    assert out["not_a_card"] == "4111 1111 1111 1112"
    assert out["keep"] == NASTY["keep"] and out["user"]["name"] == "Ada"
    assert out["Password"] == REDACTED and out["user"]["profile"]["apiKey"] == REDACTED
    assert out["list_of_lists"][1][0][1]["refresh_token"] == REDACTED
    assert "page=2" in out["url"]
    assert NASTY["Password"] == "hunter2"  # the input is not mutated


@pytest.mark.parametrize(
    "key",
    ["password", "PASSWORD", "user_password", "passwd", "secret", "clientSecret", "token", "id_token", "Authorization",
     "cookie", "Cookie", "api_key", "API-KEY", "apikey", "session", "sessionId", "x-session"],
)  # fmt: skip
def test_secret_keys(key):
    assert domain.is_secret_key(key)
    assert domain.scrub({key: {"any": ["shape"]}}) == {key: REDACTED}


@pytest.mark.parametrize("key", ["name", "area", "message", "status", "entities", "author", "id"])
def test_ordinary_keys_are_kept(key):
    assert domain.scrub({key: "v"}) == {key: "v"}


def test_scrub_caps_depth_instead_of_recursing_forever():
    deep: dict = {}
    cur = deep
    for _ in range(500):
        cur["a"] = {}
        cur = cur["a"]
    out = domain.scrub(deep)
    assert "[TRUNCATED: too deep]" in json.dumps(out)


def test_luhn():
    assert domain.luhn_ok("4111111111111111") and not domain.luhn_ok("4111111111111112")


def test_fit_keeps_small_values_and_marks_cuts():
    assert domain.fit({"a": 1}, 100) == ({"a": 1}, False)
    value, cut = domain.fit({"blob": "x" * 100_000, "code": "E1"}, LIMITS.backend_error_bytes)
    assert cut and domain.json_size(value) <= LIMITS.backend_error_bytes
    assert value["code"] == "E1" and "truncated" in value["blob"]
    value, cut = domain.fit({f"k{i}": "y" * 1000 for i in range(100)}, 2048)
    assert cut and value["_truncated"] is True and value["original_bytes"] > 100_000
    assert domain.json_size(value) <= 2048
    value, cut = domain.fit("é" * 50_000, 1000)  # multi-byte text: the budget is bytes
    assert cut and domain.json_size(value) <= 1000


def test_clip():
    assert domain.clip("abc", 10) == ("abc", False)
    text, cut = domain.clip("a" * 5000, 2000)
    assert cut and len(text) == 2000 and text.endswith("chars]")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "Schedule 01J9ZK3M4N5P6Q7R8S9T0V1W2X has 3 attendance records",
            "Schedule 01K0AB3M4N5P6Q7R8S9T0V1W2Y has 17 attendance records",
        ),
        ("user ada@example.com not found", "user bob.smith+x@school.org not found"),
        ("job 3fa85f64-5717-4562-b3fc-2c963f66afa6 failed", "job 9b2e0c1a-1111-4222-8333-444455556666 failed"),
        ("at 2024-05-01T10:00:00Z took 31ms", "at 2025-01-09T23:59:59.123Z took 7ms"),
    ],
)
def test_normalise_equates_variable_parts(a, b):
    assert domain.normalise(a) == domain.normalise(b)


def test_error_text_reads_our_envelope():
    env = {"error": {"code": "has_attendance", "message": "Cannot delete schedule with attendance records.", "details": {"n": 3}}}
    assert domain.error_text(env) == "has_attendance Cannot delete schedule with attendance records."
    assert domain.error_text("Payload Too Large") == "Payload Too Large"
    assert domain.error_text({"message": "boom", "type": "E"}) == "E boom"
    assert domain.error_text(None) is None


def test_grouping_by_area_status_and_normalised_error():
    g = domain.group_key
    e1 = {"error": {"code": "conflict", "message": "Schedule 01J9ZK3M4N5P6Q7R8S9T0V1W2X has 3 attendance records"}}
    e2 = {"error": {"code": "conflict", "message": "Schedule 01K0AB3M4N5P6Q7R8S9T0V1W2Y has 9 attendance records"}}
    same = g("admin.academic.schedules.delete", 409, e1, "Failed")[0]
    assert same == g("admin.academic.schedules.delete", 409, e2, "Failed again")[0]
    assert same != g("admin.academic.schedules.delete", 500, e1, "Failed")[0]
    assert same != g("admin.academic.schedules.update", 409, e1, "Failed")[0]
    assert same != g("admin.academic.schedules.delete", 409, {"error": {"code": "other"}}, "Failed")[0]
    assert len(same) == 32
    # without a backend error the message stands in
    assert g("a.b", None, None, "x 1")[0] == g("a.b", None, None, "x 2")[0] != g("a.b", None, None, "y")[0]
    assert g("a.b", 409, e1, "m")[1].startswith("conflict Schedule")


def test_build_draft_scrubs_truncates_and_caps():
    d = domain.build_draft(
        source="frontend",
        area="customers.homework.upload",
        message="Upload failed for token=abc123 " + "!" * 3000,
        actor={"role": "customer", "id": "cust-a"},
        http_status=413,
        backend_error={"message": "too large", "trace": "z" * 50_000, "password": "x"},
        entities=[{"type": "homework", "id": str(i)} for i in range(30)],
        location="https://app.example/homework?session=s3cr3t",
        context={"big": ["q" * 500] * 100},
        claimed_actor={"role": "admin", "id": "mallory", "token": "t"},
    )
    assert "abc123" not in d.message and len(d.message) == LIMITS.message_chars
    assert "s3cr3t" not in (d.location or "")
    assert d.backend_error["password"] == REDACTED
    assert domain.json_size(d.backend_error) <= LIMITS.backend_error_bytes
    assert domain.json_size(d.context) <= LIMITS.context_bytes
    assert len(d.entities) == LIMITS.max_entities
    assert {"message", "backend_error", "context"} <= set(d.truncated)
    assert any(t.startswith("entities") for t in d.truncated)
    assert d.claimed_actor == {"role": "admin", "id": "mallory", "token": REDACTED}


def test_dropped_draft_keeps_group_but_not_payload():
    kw = dict(source="frontend", area="a.b", message="m", actor={"role": "anonymous", "id": None}, http_status=500)
    full = domain.build_draft(backend_error={"error": {"code": "x"}}, context={"k": 1}, **kw)
    stub = domain.build_draft(backend_error={"error": {"code": "x"}}, context={"k": 1}, dropped={"reason": "r"}, **kw)
    assert stub.group_id == full.group_id
    assert stub.backend_error is None and stub.context is None and stub.dropped == {"reason": "r"}


def test_backend_draft_for_route_and_job():
    try:
        raise RuntimeError("schedule 01J9ZK3M4N5P6Q7R8S9T0V1W2X: Bearer abcdefghijkl1234 leaked")
    except RuntimeError as exc:
        err = exc
    d = domain.backend_draft(
        err,
        {
            "kind": "route",
            "route": "GET /admin/students/{student_id}",
            "path_params": {"student_id": "s1"},
            "request_id": "req-1",
            "http_status": 500,
            "actor": {"role": "admin", "id": "admin-1"},
        },
    )
    assert d.source == "backend" and d.area == "backend.route.GET /admin/students/{student_id}"
    assert d.http_status == 500 and d.request_id == "req-1" and d.actor == {"role": "admin", "id": "admin-1"}
    assert d.entities == [{"type": "student", "id": "s1"}]
    assert d.backend_error["type"] == "RuntimeError" and "abcdefghijkl1234" not in json.dumps(d.backend_error)
    assert d.origin == {"kind": "route", "route": "GET /admin/students/{student_id}"}
    assert any("test_incident_domain.py" in f for f in d.context["traceback"])
    j = domain.backend_draft(
        ValueError("corrupt"),
        {"kind": "job", "job_id": "j1", "job_type": "ProcessVideoProof", "entity": {"type": "video", "id": "v1"}, "permanent": 1},
    )
    assert j.area == "backend.job.ProcessVideoProof" and j.http_status is None
    assert j.entities == [{"type": "video", "id": "v1"}] and j.origin["job_id"] == "j1" and j.origin["permanent"] is True
    assert j.actor == {"role": "system", "id": None}


SPACED = "horse battery staple"


@pytest.mark.parametrize(
    "text",
    [
        f'password="{SPACED}" then more',
        f"password='{SPACED}'",
        f'{{"password": "{SPACED}", "name": "x"}}',
        f'{{\\"password\\": \\"{SPACED}\\", \\"name\\": \\"x\\"}}',  # JSON inside a JSON string
        f'api_key : "{SPACED}"',
        f'password="{SPACED}',  # never closed: to the end of the line
    ],
)
def test_a_quoted_secret_with_spaces_is_redacted_whole(text):
    out = domain.scrub_text(text)
    assert not any(word in out for word in SPACED.split()), out
    assert REDACTED in out


def test_a_secret_with_spaces_at_depth():
    nested = {"a": [{"b": [{"c": {"log": f'login failed for password="{SPACED}" (retry)'}}]}]}
    out = domain.scrub(nested)
    log = out["a"][0]["b"][0]["c"]["log"]
    assert log == f'login failed for password="{REDACTED}" (retry)'
    draft = domain.build_draft(source="frontend", area="x.y", message=f"pwd='{SPACED}'", actor={}, context=nested)
    assert not any(word in json.dumps(draft.__dict__) for word in SPACED.split())


@pytest.mark.parametrize(
    "key", ["pin", "PIN", "user_pin", "pinCode", "otp", "otp_code", "totp", "passcode", "smsPasscode", "cvv"]
)
def test_short_secret_names_are_secret_keys(key):
    assert domain.is_secret_key(key)
    assert domain.scrub({key: "1234"}) == {key: REDACTED}
    assert "5678" not in domain.scrub_text(f"{key}=5678 and {key}: 5678")


@pytest.mark.parametrize("key", ["shipping", "spinner", "opinion", "footprint", "hotpot", "mapping", "option"])
def test_words_containing_them_are_not(key):
    assert not domain.is_secret_key(key)
    assert domain.scrub({key: "kept"}) == {key: "kept"}


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("GET /callback?client_secret%3Dabc%2Bdef%26next%3D1", "%26next%3D1"),
        ("q=a%26client_secret%3Ds3cr3t%26x%3D1", "%26x%3D1"),
        ("redirect=%7B%22token%22%3A%22s3cr3t%22%7D", "%7D"),
        ("url=https%3A%2F%2Fx%2Fcb%3Fpassword%3Ds3cr3t", "url=https"),
    ],
)
def test_url_encoded_secrets_are_redacted(text, kept):
    out = domain.scrub_text(text)
    assert "s3cr3t" not in out and "abc%2Bdef" not in out and kept in out, out


def test_emails_and_phone_numbers_are_masked_by_default():
    text = (
        "parent ada@example.com. or bob.smith+x@school.co.uk called from +44 20 7946 0958, "
        "(555) 123-4567, 555-123-4567 and +1-555-123-4567."
    )
    out = domain.scrub_text(text, keep_contacts=False)
    for gone in ("ada@", "school.co.uk", "7946", "123-4567"):
        assert gone not in out
    assert out.count("[REDACTED_EMAIL]") == 2 and out.count("[REDACTED_PHONE]") == 4
    assert domain.scrub_text(text, keep_contacts=True) == text


def test_numbers_that_are_not_phone_numbers_are_kept():
    text = (
        "size 2147483648 bytes at 2026-12-02T10:00:00Z from 192.168.100.200 took 1234.567 s, "
        "v1.2.3, id 01J9ZK3M4N5P6Q7R8S9T0V1W2X, 2 147 483 648 bytes, order 12345678, 10:30:00, 12/05/2026"
    )
    assert domain.scrub_text(text, keep_contacts=False) == text


def test_the_contacts_setting(monkeypatch):
    """Read from the environment (uncached: the process-wide settings cache is left alone)."""
    from chalicelib.core import settings

    read = settings.get_settings.__wrapped__
    for value, keep in (("", False), ("true", True), ("1", True), ("no", False)):
        monkeypatch.setenv("ACADEMY_INCIDENTS_KEEP_CONTACTS", value)
        fresh = read()
        assert fresh.incidents_keep_contacts is keep
        monkeypatch.setattr(settings, "get_settings", lambda fresh=fresh: fresh)
        assert (domain.scrub_text("mail ada@example.com") == "mail ada@example.com") is keep


@pytest.mark.parametrize(
    "evil",
    [
        "password=" + '"' * 50_000,
        "a@" * 50_000,
        "a@b." * 30_000,
        "+1 " * 50_000,
        "(12) " * 40_000,
        "pin%3D" * 30_000,
        "x" * 64 + "@" + "a." * 60_000,
    ],
)
def test_scrubbing_stays_linear_on_hostile_text(evil):
    import time

    start = time.perf_counter()
    domain.scrub_text(evil, keep_contacts=False)
    assert time.perf_counter() - start < 2.0


# --- rate shares (RateLeases): a container's claimed part of a window's budget --------------------


def test_claim_size_is_half_of_what_is_left_and_at_least_one():
    assert [domain.claim_size(60, seen) for seen in (0, 30, 45, 59, 60, 70)] == [30, 15, 8, 1, 1, 1]


def test_a_share_is_spent_without_asking_and_a_full_window_refuses_until_the_next():
    leases = domain.RateLeases()
    assert leases.take("actor:a", 60, 4) is None  # nothing claimed yet: ask the store
    leases.granted("actor:a", 60, 2, 2)  # claimed 2 (one used by that request), the counter at 2
    assert leases.take("actor:a", 60, 4) is True
    assert leases.take("actor:a", 60, 4) is None and leases.seen("actor:a", 60) == 2
    leases.granted("actor:a", 60, 0, 4)  # refused: the counter is full
    assert leases.take("actor:a", 60, 4) is False
    assert leases.take("actor:a", 120, 4) is None and leases.seen("actor:a", 120) == 0  # a new window
    assert leases.take("actor:b", 60, 4) is None  # another scope has its own


def test_rate_leases_are_bounded():
    leases = domain.RateLeases(max_size=2)
    for n in range(3):
        leases.granted(f"ip:{n}", 60, 5, 5)
    assert leases.take("ip:0", 60, 20) is None  # dropped when full: fewer admitted, never more
    assert leases.take("ip:2", 60, 20) is True
