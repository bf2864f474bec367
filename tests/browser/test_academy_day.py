"""An academy's day in a real browser (issue 17), end to end through the pages: an admin adds a family and a
student, schedules weekly lessons, cancels one for a holiday, records a lesson's attendance, reviews a
homework with feedback and plays a video proof; then the parent sees the feedback, the cancelled lesson
and the attendance."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser.harness import Stack, make_mp4, sign_in, upload_video

pytestmark = pytest.mark.browser

CUSTOMER = "cust-demo-1"  # the dev sign-in's demo customer: the parent of this story


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def _homework(stack: Stack, student_id: str, filename: str) -> dict[str, Any]:
    """The parent's upload, as the upload page does it (presigned POST straight to storage, then complete)."""
    data = b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF\n"
    body = {"student_id": student_id, "filename": filename, "content_type": "application/pdf", "size_bytes": len(data)}
    created = stack.ok("POST", "/customer/homework", body, role="customer", sub=CUSTOMER)
    up = created["upload"]
    r = requests.post(up["url"], data=up["fields"], files={"file": (filename, data, "application/pdf")}, timeout=60)
    assert r.status_code < 300, r.text[:300]
    return stack.ok("POST", f"/customer/homework/{created['homework']['id']}/complete", role="customer", sub=CUSTOMER)


def test_an_admins_day_and_what_the_parent_sees(page: Any, browser: Any, stack: Stack, tmp_path: Path) -> None:
    stamp = int(time.time() * 1000)
    kid = f"Day{stamp} Kit"
    today = datetime.now(UTC).date()
    first, holiday = today - timedelta(days=7), today + timedelta(days=7)

    # the family (the demo customer's record, once per stack) and its student, through the pages
    sign_in(page, stack, "admin", at="/console/admin/family")
    if stack.api("GET", f"/admin/customers/{CUSTOMER}").status_code == 404:
        page.get_by_text("New family", exact=True).click()
        create = page.locator("details", has_text="New family")
        create.get_by_label("Family name").fill("The Demo family")
        create.get_by_label("Contact email").fill("parent@example.com")
        create.get_by_label("Customer id").fill(CUSTOMER)
        create.get_by_role("button", name="Add family").click()
        expect(page.locator(".alert-ok")).to_contain_text("Added The Demo family")
    page.goto(f"{stack.url}/console/admin/students")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    page.get_by_text("New student", exact=True).click()
    create = page.locator("details", has_text="New student")
    create.get_by_label("Name", exact=False).first.fill(kid)
    create.get_by_label("Family (customer id)").fill(CUSTOMER)
    create.get_by_label("Time zone").fill("UTC")
    create.get_by_role("button", name="Add student").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Added {kid}")
    student = next(s for s in stack.ok("GET", f"/admin/customers/{CUSTOMER}/students?limit=100")["items"] if s["name"] == kid)

    # weekly lessons, from a week ago
    page.goto(f"{stack.url}/console/admin/schedules")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    page.get_by_text("New schedule", exact=True).click()
    title = f"Piano {stamp}"
    page.get_by_label("Title").fill(title)
    page.get_by_label("Starts").fill(f"{first.isoformat()}T16:00")
    page.get_by_label("Ends").fill(f"{first.isoformat()}T17:00")
    page.get_by_label("Repeats").select_option("weekly")
    page.get_by_label("Time zone").fill("UTC")
    page.get_by_role("checkbox", name=kid).first.check()
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Created “{title}”")

    # the lessons: cancel next week's for a holiday, record last week's attendance
    page.goto(f"{stack.url}/console/admin/lessons")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    page.locator("select[name=schedule_id]").select_option(label=title)
    page.get_by_label("From").fill(first.isoformat())
    page.get_by_role("button", name="Show lessons").click()
    lessons = page.locator("#lessons")
    later = lessons.locator(f'tr[data-date="{holiday.isoformat()}"]')
    expect(later).to_have_attribute("data-status", "scheduled")
    page.once("dialog", lambda d: d.accept("Holiday"))
    later.get_by_role("button", name=re.compile("^Cancel")).click()
    expect(page.locator(".alert-ok")).to_contain_text("Cancelled the lesson")
    expect(lessons.locator(f'tr[data-date="{holiday.isoformat()}"]')).to_have_attribute("data-status", "cancelled")
    lessons.locator(f'tr[data-date="{first.isoformat()}"]').get_by_role("button", name=re.compile("^Attendance")).click()
    panel = page.locator("#lesson-attendance")
    panel.get_by_label(f"Status of {kid}").select_option("late")
    panel.get_by_role("button", name="Save the lesson's attendance").click()
    expect(page.locator(".alert-ok")).to_contain_text("Recorded 1 student(s)")

    # a homework to review, and a video proof to watch
    hw = _homework(stack, student["id"], f"scales-{stamp}.pdf")
    page.goto(f"{stack.url}/console/admin/homework")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    row = page.locator(f'tr[data-homework-id="{hw["id"]}"]')
    row.get_by_role("button", name=f"Open scales-{stamp}.pdf").click()
    page.get_by_label("Feedback").fill("Lovely legato; slow down in bar 12.")
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"scales-{stamp}.pdf is reviewed")

    video = upload_video(
        stack, CUSTOMER, student["id"], make_mp4(tmp_path / "recital.mp4", seconds=2).read_bytes(), f"recital-{stamp}.mp4"
    )
    page.goto(f"{stack.url}/console/admin/media")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    page.locator(f'tr[data-video-id="{video["id"]}"]').get_by_role("button", name=f"Play recital-{stamp}.mp4").click()
    page.wait_for_function(
        "() => { const v = document.querySelector('video.player'); return v && v.readyState >= 2; }", timeout=30_000
    )

    # the parent
    parent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(parent, stack, "customer", at="/console/customer/lessons")
        parent.locator("select[name=student_id]").select_option(student["id"])
        parent.locator("input[name=from]").fill(first.isoformat())
        parent.get_by_role("button", name="Show").click()
        cancelled = parent.locator(f'#family-lessons li[data-date="{holiday.isoformat()}"]')
        expect(cancelled).to_have_attribute("data-status", "cancelled")
        expect(cancelled).to_contain_text("Holiday")
        expect(parent.locator(f'#family-attendance li[data-date="{first.isoformat()}"]')).to_contain_text("late")
        parent.goto(f"{stack.url}/console/customer/homework")
        mine = parent.locator("tr", has_text=f"scales-{stamp}.pdf")
        expect(mine).to_contain_text("reviewed")
        expect(mine).to_contain_text("Lovely legato; slow down in bar 12.")
    finally:
        parent.context.close()
