"""The console in a real browser: sign-in, schedules, media optimisation, jobs, incidents and uploads."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser.harness import PHONE, Stack, ensure_student, make_mp4, sign_in, upload_video
from tests.media_support import fake_mp4

pytestmark = pytest.mark.browser

CUSTOMER = "cust-demo-1"  # the dev sign-in's demo customer


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def need(stack: Stack, method: str, path: str) -> None:
    if not stack.has_route(method, path):
        pytest.skip(f"{method} {path} is not in the app yet")


def wait_for(fn: Any, timeout: float = 20, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


# --- sign-in -------------------------------------------------------------------------------------


def test_sign_in_with_a_pasted_token_and_with_the_dev_buttons(page: Any, stack: Stack, page_errors: Any) -> None:
    page_errors.allow("401")  # the refused token below is a failed request Chromium logs
    page.goto(f"{stack.url}/console/admin/jobs")
    expect(page.get_by_text("Sign in to open Jobs.")).to_be_visible()
    page.get_by_label("Access token").fill("not-a-token")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("does not look like a sign-in token")

    forged = stack.token("admin")[:-4] + "AAAA"
    page.get_by_label("Access token").fill(forged)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("The token was refused")

    page.get_by_label("Access token").fill(stack.token("admin"))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{stack.url}/console/admin/jobs")  # back where the user wanted to go
    expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('academy.console.token')") == stack.token("admin")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{stack.url}/console")
    assert page.evaluate("sessionStorage.getItem('academy.console.token')") is None
    sign_in(page, stack, "customer")
    assert page.url.endswith("/console/customer/homework")
    page.goto(f"{stack.url}/console/admin/schedules")
    expect(page.get_by_text("This page is for admins.")).to_be_visible()


def test_phone_menu_and_keyboard(new_page: Any, stack: Stack) -> None:
    page = new_page(PHONE)
    sign_in(page, stack, "admin", at="/console/admin/jobs")
    nav = page.locator("#sidenav")
    expect(nav).to_be_hidden()
    toggle = page.get_by_role("button", name="Menu")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(nav).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    nav.get_by_role("link", name="Incident Hub").click()
    page.wait_for_url("**/console/admin/incidents")
    # nothing wider than the phone
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # the skip link is the first stop for keyboard users
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


# --- schedules -----------------------------------------------------------------------------------


def test_create_a_schedule_then_delete_it_with_its_attendance(page: Any, stack: Stack) -> None:
    need(stack, "GET", "/admin/schedules")
    ada = ensure_student(stack, CUSTOMER, "Ada Lovelace")
    alan = ensure_student(stack, CUSTOMER, "Alan Turing")
    sign_in(page, stack, "admin")
    page.goto(f"{stack.url}/console/admin/schedules")
    page.get_by_text("New schedule", exact=True).click()
    title = f"Algebra {int(time.time() * 1000)}"
    page.get_by_label("Title").fill(title)
    page.get_by_label("Starts").fill("2026-03-02T16:00")
    page.get_by_label("Ends").fill("2026-03-02T17:00")
    page.get_by_label("Repeats").select_option("weekly")
    page.get_by_role("checkbox", name="Ada Lovelace").first.check()
    page.get_by_role("checkbox", name="Alan Turing").first.check()
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Created “{title}”")
    row = page.locator("tr", has_text=title)
    expect(row).to_be_visible()
    schedule_id = row.get_attribute("data-schedule-id")

    # attendance through the page for one student, through the API for the other
    row.get_by_role("button", name=re.compile("Attendance")).click()
    panel = page.locator("#attendance")
    panel.get_by_label("Date").fill("2026-03-02")
    panel.get_by_label("Student").select_option(ada["id"])
    panel.get_by_label("Status").select_option("late")
    panel.get_by_role("button", name="Record").click()
    expect(panel.locator("tbody tr")).to_have_count(1)
    stack.ok("PUT", f"/admin/schedules/{schedule_id}/attendance/2026-03-02/{alan['id']}", {"status": "present"})

    row.get_by_role("button", name=re.compile("Delete")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This also deletes 2 attendance records.")
    dialog.get_by_role("button", name="Delete schedule").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Deleted “{title}” and 2 attendance records.")
    expect(page.locator("tr", has_text=title)).to_have_count(0)
    assert stack.api("GET", f"/admin/schedules/{schedule_id}").status_code == 404


# --- media ---------------------------------------------------------------------------------------


def _optimisable_video(stack: Stack, tmp_path: Path, name: str) -> dict[str, Any]:
    """A real video whose automatic optimisation was cancelled: original only, no job in flight."""
    student = ensure_student(stack, CUSTOMER, "Ada Lovelace")
    data = make_mp4(tmp_path / name).read_bytes()
    video = upload_video(stack, CUSTOMER, student["id"], data, filename=name)
    detail = stack.ok("GET", f"/admin/media/{video['id']}")
    if detail.get("job") and detail["job"]["state"] == "queued":
        stack.ok("DELETE", f"/admin/jobs/{detail['job']['job_id']}")
    detail = stack.ok("GET", f"/admin/media/{video['id']}")
    assert detail["variant_count"] == 1 and detail["optimisable"] is True
    return detail


def test_optimise_hides_the_icon_at_once_dispatches_once_and_the_variant_appears(page: Any, stack: Stack, tmp_path: Path) -> None:
    need(stack, "GET", "/admin/media")
    video = _optimisable_video(stack, tmp_path, "optimise-me.mp4")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith("/optimise") else None)
    sign_in(page, stack, "admin")
    page.goto(f"{stack.url}/console/admin/media")
    row = page.locator(f'tr[data-video-id="{video["id"]}"]')
    button = row.get_by_role("button", name="Optimise optimise-me.mp4")
    expect(button).to_be_visible()
    assert button.get_attribute("data-tip")  # the tooltip (shown on hover and keyboard focus)
    expect(row.locator("[data-variants]")).to_have_attribute("data-variants", "1")

    button.dblclick()
    expect(row.get_by_role("button", name="Optimise optimise-me.mp4")).to_have_count(0)
    expect(page.locator(".alert-ok")).to_contain_text("is queued")
    assert len(posts) == 1, posts

    stack.drain()  # the worker runs ProcessVideoProof (real ffmpeg)
    expect(row.locator("[data-variants]")).to_have_attribute("data-variants", "2", timeout=30000)
    expect(row).to_contain_text("720p")
    expect(row).to_contain_text("optimised")
    expect(row.get_by_role("button", name=re.compile("^Optimise"))).to_have_count(0)
    assert len(posts) == 1


def test_a_refused_optimise_restores_the_icon_with_the_reason(page: Any, stack: Stack, tmp_path: Path, page_errors: Any) -> None:
    need(stack, "GET", "/admin/media")
    page_errors.allow("409")
    video = _optimisable_video(stack, tmp_path, "refused.mp4")
    sign_in(page, stack, "admin")

    def refuse(route: Any) -> None:
        time.sleep(0.5)  # long enough to see the optimistic state
        body = {
            "error": {
                "code": "already_queued",
                "message": "An optimisation job for this video is already queued or running.",
                "details": {},
            }
        }
        route.fulfill(status=409, content_type="application/json", body=json.dumps(body))

    page.route(f"**/admin/media/{video['id']}/optimise", refuse)
    page.goto(f"{stack.url}/console/admin/media")
    row = page.locator(f'tr[data-video-id="{video["id"]}"]')
    row.get_by_role("button", name="Optimise refused.mp4").click()
    expect(row.get_by_role("button", name="Optimise refused.mp4")).to_have_count(0)
    expect(
        row.get_by_role("button", name="Optimise refused.mp4")
    ).to_be_visible()  # restored: the API says it is still optimisable
    expect(row).to_contain_text("already queued or running")
    expect(page.get_by_role("alert").first).to_contain_text("Could not optimise refused.mp4")


# --- jobs ----------------------------------------------------------------------------------------


def broken_mp4(tmp_path: Path) -> bytes:
    """A well-formed MP4 box structure (so the upload is accepted) around no playable media."""
    return fake_mp4(media_bytes=1600)


def test_retry_a_failed_job(page: Any, stack: Stack, tmp_path: Path) -> None:
    need(stack, "GET", "/admin/jobs")
    student = ensure_student(stack, CUSTOMER, "Alan Turing")
    video = upload_video(stack, CUSTOMER, student["id"], broken_mp4(tmp_path), filename="broken.mp4")
    stack.drain()  # the optimisation fails permanently: not a playable video
    job = stack.ok("GET", f"/admin/media/{video['id']}")["job"]
    assert job["state"] == "failed", job
    sign_in(page, stack, "admin")
    page.goto(f"{stack.url}/console/admin/jobs")
    page.get_by_role("tab", name=re.compile("^Failed")).click()
    expect(page.get_by_role("tab", name=re.compile("^Failed"))).to_have_attribute("aria-selected", "true")
    row = page.locator(f'tr[data-job-id="{job["job_id"]}"]')
    expect(row).to_contain_text("not a playable video")
    row.get_by_role("button", name=re.compile("^Retry")).click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Job {job['job_id']} ({job['type']}) is queued again.")
    expect(page.locator(f'tr[data-job-id="{job["job_id"]}"]')).to_have_count(0)
    page.get_by_role("tab", name=re.compile("^Queued")).click()
    expect(page.locator(f'tr[data-job-id="{job["job_id"]}"]')).to_be_visible()
    assert stack.ok("GET", f"/admin/jobs/{job['job_id']}")["state"] == "queued"
    stack.drain()  # fails again (still not a video): leave the ledger as we found it


def test_bulk_retry_previews_before_applying(page: Any, stack: Stack, tmp_path: Path) -> None:
    need(stack, "POST", "/admin/jobs/retry")
    student = ensure_student(stack, CUSTOMER, "Alan Turing")
    upload_video(stack, CUSTOMER, student["id"], broken_mp4(tmp_path), filename="bulk.mp4")
    stack.drain()
    sign_in(page, stack, "admin")
    page.goto(f"{stack.url}/console/admin/jobs?tab=failed")
    page.get_by_text("Bulk retry failed jobs").click()
    page.get_by_label("Error contains").fill("not a playable video")
    page.get_by_role("button", name="Preview").click()
    summary = page.locator(".alert-info", has_text="match")
    expect(summary).to_be_visible()
    matched = int(re.search(r"(\d+) failed jobs? match", summary.inner_text()).group(1))
    assert matched >= 1
    summary.get_by_role("button", name=re.compile(r"^Retry \d+ jobs?")).click()
    page.get_by_role("dialog").get_by_role("button", name="Retry them").click()
    expect(page.locator(".alert-ok", has_text="again")).to_contain_text(re.compile(r"Queued \d+ jobs? again"))
    stack.drain()


# --- uploads and incidents ------------------------------------------------------------------------


def test_homework_upload_goes_straight_to_storage_with_progress(page: Any, stack: Stack, tmp_path: Path) -> None:
    need(stack, "POST", "/customer/homework")
    ensure_student(stack, CUSTOMER, "Ada Lovelace")
    pdf = tmp_path / "essay.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"0" * 1_500_000 + b"\n%%EOF\n")
    sign_in(page, stack, "customer")
    seen: list[int] = []
    page.expose_function("recordProgress", lambda value: seen.append(int(value)))
    page.locator("#upload-progress").evaluate(
        "bar => new MutationObserver(() => window.recordProgress(bar.value)).observe(bar, {attributes: true})"
    )
    # a slow uplink (~1 MB/s), so the bar has something to show on the way
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 5, "downloadThroughput": -1, "uploadThroughput": 1_000_000},
    )
    page.get_by_label("Student").select_option(label="Ada Lovelace")
    page.get_by_label("File").set_input_files(str(pdf))
    page.get_by_role("button", name="Upload homework").click()
    expect(page.locator(".alert-ok")).to_contain_text("Uploaded essay.pdf for Ada Lovelace.")
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
    expect(page.locator("tr", has_text="essay.pdf")).to_contain_text("uploaded")
    assert any(0 < v < 100 for v in seen), seen  # real XMLHttpRequest upload progress, not a jump to 100


def _incident_groups(stack: Stack, area: str) -> list[dict[str, Any]]:
    return stack.ok("GET", f"/admin/incidents?area={area}&limit=100")["items"]


def test_a_refused_upload_is_explained_and_lands_in_the_incident_hub(
    new_page: Any, stack: Stack, tmp_path: Path, page_errors: Any
) -> None:
    need(stack, "POST", "/customer/homework")
    need(stack, "GET", "/admin/incidents")
    page_errors.allow("400")
    ensure_student(stack, CUSTOMER, "Ada Lovelace")
    bad = tmp_path / "homework.html"
    bad.write_text("<p>not homework</p>")
    customer = new_page()
    sign_in(customer, stack, "customer")
    customer.get_by_label("File").set_input_files(str(bad))
    customer.get_by_role("button", name="Upload homework").click()
    alert = customer.get_by_role("alert").first
    expect(alert).to_contain_text("Could not upload homework.html: this type of file is not accepted. Choose a PDF")
    shown = alert.inner_text()
    assert "Traceback" not in shown and "validation_error" not in shown

    group = wait_for(lambda: next(iter(_incident_groups(stack, "customers.homework.upload")), None))
    admin = new_page()
    sign_in(admin, stack, "admin")
    admin.goto(f"{stack.url}/console/admin/incidents")
    link = admin.locator(f'tr[data-group-id="{group["group_id"]}"]').get_by_role("button").first
    link.click()
    detail = admin.locator("#group-detail")
    expect(detail).to_contain_text("customers.homework.upload")
    expect(detail.locator(".backend-error").first).to_contain_text('"error"')  # the backend's raw error body
    expect(detail).to_contain_text(shown.strip().splitlines()[0])
    expect(detail).to_contain_text("customer cust-demo-1")

    detail.get_by_role("button", name="Mark resolved").click()
    expect(admin.locator(".alert-ok")).to_contain_text("resolved")
    assert stack.ok("GET", f"/admin/incidents/groups/{group['group_id']}")["group"]["status"] == "resolved"
    admin.locator("#group-detail").get_by_role("button", name="Reopen").click()
    expect(admin.locator(".alert-ok")).to_contain_text("open")


def test_a_storage_refusal_is_reported_with_the_storage_error_body(
    page: Any, stack: Stack, tmp_path: Path, page_errors: Any
) -> None:
    need(stack, "POST", "/customer/videos")
    need(stack, "GET", "/admin/incidents")
    page_errors.allow("403")
    ensure_student(stack, CUSTOMER, "Ada Lovelace")
    clip = make_mp4(tmp_path / "clip.mp4")
    sign_in(page, stack, "customer")
    page.goto(f"{stack.url}/console/customer/videos")
    xml = (
        "<?xml version='1.0'?><Error><Code>AccessDenied</Code>"
        "<Message>Invalid according to Policy: Policy expired.</Message></Error>"
    )
    storage = lambda url: not url.startswith(stack.url)  # noqa: E731 - the presigned POST goes to S3, not the API
    page.route(storage, lambda route: route.fulfill(status=403, content_type="application/xml", body=xml))
    page.get_by_label("File").set_input_files(str(clip))
    page.get_by_role("button", name="Upload video").click()
    expect(page.get_by_role("alert").first).to_contain_text("Could not upload clip.mp4.")

    def reported() -> Any:
        # this refusal's group: other tests' upload refusals may also be 403s in this area
        for g in _incident_groups(stack, "customers.videos.upload"):
            if g.get("http_status") == 403:
                items = stack.ok("GET", f"/admin/incidents/groups/{g['group_id']}")["items"]
                if any("AccessDenied" in json.dumps(i["backend_error"]) for i in items):
                    return g
        return None

    # The reporter sends from its queue; a 429 (the session's customer reports a lot) pauses that queue
    # for the Retry-After, up to the 60 s window: wait past one window before calling the report lost.
    assert wait_for(reported, timeout=75)
    assert requests.get(f"{stack.url}/health", timeout=10).status_code == 200


# --- tasks ---------------------------------------------------------------------------------------


def test_tasks_create_mark_done_and_prune_future_instances(page: Any, stack: Stack) -> None:
    need(stack, "GET", "/admin/tasks")
    from datetime import UTC, datetime, timedelta

    sign_in(page, stack, "admin", at="/console/admin/tasks")
    today = datetime.now(UTC).date()
    title = f"Reading log {int(time.time() * 1000)}"
    page.get_by_text("New task", exact=True).click()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Repeats").select_option("daily")
    page.get_by_label("Time zone").fill("UTC")
    page.get_by_label("Starts on").fill(today.isoformat())
    page.get_by_role("button", name="Create task").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Created “{title}” with 1 instance.")
    instances = page.locator("#instances")
    expect(instances.locator("tbody tr")).to_have_count(1)  # exactly one instance on creation
    instances.get_by_role("button", name=re.compile("^Mark done")).click()
    expect(instances.locator("tbody tr").first).to_contain_text("done")
    expect(instances.get_by_role("button", name=re.compile("^Reopen"))).to_be_visible()

    # damage, as the old bug made it: instances of a daily task dated after today
    task_id = page.locator("tr", has_text=title).get_attribute("data-task-id")
    days = [(today + timedelta(days=n)).isoformat() for n in (3, 4, 5)]
    seeded = stack.attached_python(
        f"""
        from datetime import date
        from chalicelib.tasks import store
        from chalicelib.tasks.domain import Candidate
        from chalicelib.core.db import utcnow
        for d in {days!r}:
            store.new_instance(Candidate({task_id!r}, date.fromisoformat(d), "UTC"), "test-damage", utcnow()).save()
        """
    )
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    page.reload()
    expect(page.locator("tr", has_text=title)).to_be_visible()  # the list (task titles) is loaded, not racing the check
    page.get_by_text("Clean up future instances").click()
    page.get_by_role("button", name="Check for future instances").click()
    found = page.locator(".alert-warn", has_text="found")
    expect(found).to_contain_text(title)
    found.get_by_role("button", name=re.compile(r"^Delete \d+ future instances?")).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete them").click()
    expect(page.locator(".alert-ok", has_text="future instance")).to_contain_text(
        re.compile(r"Deleted [1-9]\d* future instances?")
    )
    left = [i["date"] for i in stack.ok("GET", f"/admin/tasks/{task_id}/instances")["items"]]
    assert left == [today.isoformat()]  # today's (done) instance is kept


def test_a_large_schedule_delete_shows_the_job_progress(page: Any, stack: Stack) -> None:
    need(stack, "GET", "/admin/schedules")
    from datetime import date, timedelta

    students = [ensure_student(stack, CUSTOMER, n) for n in ("Ada Lovelace", "Alan Turing")]
    title = f"Big weekly {int(time.time() * 1000)}"
    s = stack.ok(
        "POST",
        "/admin/schedules",
        {
            "title": title,
            "student_ids": [x["id"] for x in students],
            "starts_at": "2025-01-06T16:00:00Z",
            "ends_at": "2025-01-06T17:00:00Z",
            "recurrence": "weekly",
            "timezone": "UTC",
        },
    )
    first = date(2025, 1, 6)
    for week in range(51):  # 102 records: more than one transaction can hold
        for student in students:
            day = (first + timedelta(weeks=week)).isoformat()
            stack.ok("PUT", f"/admin/schedules/{s['id']}/attendance/{day}/{student['id']}", {"status": "present"})
    sign_in(page, stack, "admin", at="/console/admin/schedules")
    row = page.locator(f'tr[data-schedule-id="{s["id"]}"]')
    row.get_by_role("button", name=re.compile("^Delete")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This also deletes 102 attendance records.")
    dialog.get_by_role("button", name="Delete schedule").click()
    progress = page.locator("[data-job-id]")
    expect(progress).to_contain_text("Queued")  # no workers in this stack: the job waits for us
    expect(row).to_have_count(0)  # gone from the list at once
    stack.drain()
    expect(progress).to_contain_text("Done: 102 of 102 attendance records", timeout=15000)
    expect(page.locator(".alert-ok")).to_contain_text(f"Deleted “{title}” and all its attendance records.")


def test_jobs_refresh_themselves_and_tabs_work_from_the_keyboard(page: Any, stack: Stack, tmp_path: Path) -> None:
    need(stack, "GET", "/admin/jobs")
    sign_in(page, stack, "admin", at="/console/admin/jobs?tab=failed")
    failed_tab = page.get_by_role("tab", name=re.compile("^Failed"))
    expect(failed_tab).to_have_attribute("aria-selected", "true")
    student = ensure_student(stack, CUSTOMER, "Alan Turing")
    video = upload_video(stack, CUSTOMER, student["id"], broken_mp4(tmp_path), filename="late-failure.mp4")
    stack.drain()
    job_id = stack.ok("GET", f"/admin/media/{video['id']}")["job"]["job_id"]
    # no reload, no click: the page refreshes itself (every 5 s)
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_be_visible(timeout=12000)
    retry = page.locator(f'tr[data-job-id="{job_id}"]').get_by_role("button", name=re.compile("^Retry"))
    retry.focus()
    with page.expect_response(lambda r: "/admin/jobs?state=failed" in r.url, timeout=12000):
        pass  # the next automatic refresh re-renders the list…
    page.wait_for_timeout(300)
    expect(
        page.locator(f'tr[data-job-id="{job_id}"]').get_by_role("button", name=re.compile("^Retry"))
    ).to_be_focused()  # …keeping focus
    failed_tab.focus()
    page.keyboard.press("ArrowRight")
    cancelled_tab = page.get_by_role("tab", name=re.compile("^Cancelled"))
    expect(cancelled_tab).to_be_focused()
    expect(cancelled_tab).to_have_attribute("aria-selected", "true")
    assert page.url.endswith("tab=cancelled")
    # cancel a failed job from its tab, with a confirmation
    page.keyboard.press("ArrowLeft")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    row.get_by_role("button", name=re.compile("^Cancel")).click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel job").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Job {job_id} is cancelled.")
    assert stack.ok("GET", f"/admin/jobs/{job_id}")["state"] == "cancelled"


def test_incident_filters(page: Any, stack: Stack) -> None:
    need(stack, "GET", "/admin/incidents")
    area = f"admin.console.filter_test_{int(time.time())}"
    body = {
        "area": area,
        "message": "Filter me",
        "http_status": 409,
        "location": "test",
        "backend_error": {"error": {"code": "conflict", "message": "Filter me"}},
    }
    stack.ok("POST", "/incidents", body)
    sign_in(page, stack, "admin", at="/console/admin/incidents")
    page.wait_for_load_state("networkidle")  # the page fills the form from the address once loaded
    page.get_by_label("Area").fill(area)
    page.get_by_role("button", name="Filter", exact=True).click()
    rows = page.locator("tr[data-group-id]")  # the groups (each row's sparkline holds a table of its own)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Filter me")
    assert f"area={area}" in page.url  # the filters are in the address, so a view can be shared
    page.get_by_label("Status").select_option("resolved")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.get_by_text("No incidents match these filters.")).to_be_visible()


@pytest.mark.parametrize(
    "raw_path",
    [
        "/console/static/../routes.py",
        "/console/static/..%2Froutes.py",
        "/console/static/%2e%2e%2f%2e%2e%2fapp.py",
        "/console/static/..%5croutes.py",
        "/console/static/routes.py",
        "/console/static/%2Fetc%2Fpasswd",
        "/console/../app.py",
    ],
)
def test_no_path_traversal_over_real_http(stack: Stack, raw_path: str) -> None:
    """The same allow-list behind the real local server (raw paths, no client-side normalisation)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    conn.putrequest("GET", raw_path, skip_accept_encoding=True)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    conn.close()
    assert resp.status in (403, 404), (raw_path, resp.status)
    assert "import " not in body and "root:" not in body


def test_static_files_over_real_http_have_types_and_revalidate(stack: Stack) -> None:
    r = requests.get(f"{stack.url}/console/static/app.js", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["X-Content-Type-Options"] == "nosniff"
    again = requests.get(f"{stack.url}/console/static/app.js", headers={"If-None-Match": r.headers["ETag"]}, timeout=10)
    assert again.status_code == 304
    css = requests.get(f"{stack.url}/console/static/console.css", timeout=10)
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    page = requests.get(f"{stack.url}/console/admin/media", timeout=10)
    assert (
        page.headers["Content-Type"] == "text/html; charset=utf-8"
        and "script-src 'self'" in page.headers["Content-Security-Policy"]
    )


def test_video_upload_with_progress_then_listed(page: Any, stack: Stack, tmp_path: Path) -> None:
    need(stack, "POST", "/customer/videos")
    ensure_student(stack, CUSTOMER, "Alan Turing")
    clip = make_mp4(tmp_path / "recital.mp4", seconds=2)
    sign_in(page, stack, "customer", at="/console/customer/videos")
    page.get_by_label("Student").select_option(label="Alan Turing")
    page.get_by_label("File").set_input_files(str(clip))
    page.get_by_role("button", name="Upload video").click()
    expect(page.locator(".alert-ok")).to_contain_text(
        "Uploaded recital.mp4 for Alan Turing. It will be optimised for playback shortly."
    )
    expect(page.locator("#upload-step")).to_have_text("Done.")
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
    row = page.locator("tr", has_text="recital.mp4")
    expect(row).to_contain_text("uploaded")
    expect(row).to_contain_text("original only")


def test_schedules_filter_by_student(page: Any, stack: Stack) -> None:
    need(stack, "GET", "/admin/schedules")
    grace = ensure_student(stack, "cust-demo-2", "Grace Hopper")
    ada = ensure_student(stack, CUSTOMER, "Ada Lovelace")
    stamp = int(time.time() * 1000)
    when = {"starts_at": "2026-05-04T09:00:00Z", "ends_at": "2026-05-04T10:00:00Z"}
    stack.ok("POST", "/admin/schedules", {"title": f"Only Grace {stamp}", "student_ids": [grace["id"]], **when})
    stack.ok("POST", "/admin/schedules", {"title": f"Only Ada {stamp}", "student_ids": [ada["id"]], **when})
    sign_in(page, stack, "admin", at="/console/admin/schedules")
    expect(page.locator("tr", has_text=f"Only Ada {stamp}")).to_be_visible()
    page.get_by_role("search", name="Filter schedules").get_by_label("Student").select_option(label="Grace Hopper")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator("tr", has_text=f"Only Grace {stamp}")).to_be_visible()
    expect(page.locator("tr", has_text=f"Only Ada {stamp}")).to_have_count(0)


def test_a_parent_sees_today_and_past_task_instances(page: Any, stack: Stack) -> None:
    need(stack, "GET", "/admin/tasks")
    student = ensure_student(stack, CUSTOMER, f"Tasks child {int(time.time() * 1000)}")
    title = f"Practice scales {int(time.time() * 1000)}"
    task = stack.ok(
        "POST", "/admin/tasks", {"title": title, "student_id": student["id"], "recurrence": "daily", "timezone": "UTC"}
    )
    today = task["task"]["starts_on"]
    stack.ok("PATCH", f"/admin/tasks/{task['task']['id']}/instances/{today}", {"status": "done"})

    sign_in(page, stack, "customer", at="/console/customer/tasks")
    page.get_by_label("Student").select_option(student["id"])
    card = page.locator(f"[data-task='{task['task']['id']}']")
    expect(card).to_contain_text(title)
    expect(card).to_contain_text("Today: Done")
    expect(card.locator("tbody tr")).to_have_count(1)
