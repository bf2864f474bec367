"""``make screenshots``: every console page at desktop and phone width, on a local stack with demo data.

Starts ``academy up`` (ephemeral, no workers), fills it through the API the way users would (students,
schedules with attendance, tasks, optimised / optimisable / broken videos, a failed job, incidents),
then writes ``<out>/<page>-<desktop|phone>.png``. Nothing is committed (screenshots/ is ignored).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from tests.browser.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    Stack,
    chromium_available,
    cleanup,
    ensure_student,
    make_mp4,
    start_stack,
    upload_video,
)
from tests.media_support import fake_mp4

CUSTOMER = "cust-demo-1"


def seed(stack: Stack, tmp: Path) -> dict[str, Any]:
    """Demo data through the API; returns ids the screenshots open."""
    ada = ensure_student(stack, CUSTOMER, "Ada Lovelace")
    alan = ensure_student(stack, CUSTOMER, "Alan Turing")
    ensure_student(stack, "cust-demo-2", "Grace Hopper")
    for cid, family in ((CUSTOMER, "The Lovelace and Turing family"), ("cust-demo-2", "The Hoppers")):
        body = {"customer_id": cid, "display_name": family, "contact_email": f"{cid}@example.com"}
        if stack.api("GET", f"/admin/customers/{cid}").status_code == 404:
            stack.ok("POST", "/admin/customers", body)
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    made: dict[str, Any] = {}
    for title, hour, rec in (("Algebra", 16, "weekly"), ("Essay clinic", 18, "none"), ("Physics lab", 10, "weekly")):
        start = datetime.combine(monday - timedelta(weeks=3), datetime.min.time(), UTC) + timedelta(hours=hour)
        s = stack.ok(
            "POST",
            "/admin/schedules",
            {
                "title": title,
                "student_ids": [ada["id"], alan["id"]],
                "starts_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ends_at": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recurrence": rec,
                "timezone": "Europe/London",
            },
        )
        made.setdefault("schedules", []).append(s)
        weeks = 4 if rec == "weekly" else 1
        for w in range(weeks):
            day = (start.date() + timedelta(weeks=w)).isoformat()
            for student, status in ((ada, "present"), (alan, "late" if w % 2 else "absent")):
                stack.ok("PUT", f"/admin/schedules/{s['id']}/attendance/{day}/{student['id']}", {"status": status})
    for title, rec in (("Reading log", "daily"), ("Send term report", "none")):
        body = {"title": title, "recurrence": rec, "timezone": "Europe/London", "student_id": ada["id"]}
        if rec == "daily":
            body["description"] = "Twenty minutes of reading, noted in the log."
        made.setdefault("tasks", []).append(stack.ok("POST", "/admin/tasks", body)["task"])
    # videos: one optimised, one optimisable (its automatic job cancelled), one broken (failed job)
    good = make_mp4(tmp / "lesson.mp4").read_bytes()
    upload_video(stack, CUSTOMER, ada["id"], good, filename="lesson-recording.mp4")
    stack.drain()
    waiting = upload_video(stack, CUSTOMER, alan["id"], good, filename="piano-practice.mp4")
    job = stack.ok("GET", f"/admin/media/{waiting['id']}").get("job")
    if job and job["state"] == "queued":
        stack.ok("DELETE", f"/admin/jobs/{job['job_id']}")
    upload_video(stack, CUSTOMER, alan["id"], fake_mp4(media_bytes=2100), filename="phone-video.mp4")
    stack.drain()
    # homework: one reviewed (twice: a history), one awaiting review
    for student, name, reviews in (
        (ada, "fractions.pdf", ("Good start: show your working.", "Much clearer now, well done.")),
        (alan, "essay.pdf", ()),
    ):
        data = b"%PDF-1.4\n" + b"0" * 4000 + b"\n%%EOF\n"
        body = {"student_id": student["id"], "filename": name, "content_type": "application/pdf", "size_bytes": len(data)}
        created = stack.ok("POST", "/customer/homework", body, role="customer", sub=CUSTOMER)
        up = created["upload"]
        requests.post(up["url"], data=up["fields"], files={"file": (name, data, "application/pdf")}, timeout=60)
        hw = stack.ok("POST", f"/customer/homework/{created['homework']['id']}/complete", role="customer", sub=CUSTOMER)
        for text in reviews:
            hw = stack.ok("POST", f"/admin/homework/{hw['id']}/review", {"feedback": text, "rev": hw["rev"]})
    # incidents, as the pages report them
    for status, message in (
        (
            400,
            "Could not upload essay.html: this type of file is not accepted. Choose a PDF, JPEG or PNG file.",
        ),
        (403, "Could not upload."),
    ):
        stack.ok(
            "POST",
            "/incidents",
            {
                "area": "customers.homework.upload",
                "message": message,
                "http_status": status,
                "backend_error": {"error": {"code": "unsupported_type", "message": message, "details": {}}},
                "entities": [{"type": "student", "id": ada["id"]}],
                "location": f"{stack.url}/console/customer/homework",
            },
            role="customer",
            sub=CUSTOMER,
        )
    groups = stack.ok("GET", "/admin/incidents?limit=5")["items"]
    made["group_id"] = groups[0]["group_id"] if groups else None
    return made


# Elements that stick out past the window's right edge (a page should never scroll sideways).
OVERFLOW_JS = """() => {
  const w = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= w) return null;
  return [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > w + 1 && getComputedStyle(e).position !== 'absolute')
    .slice(0, 6)
    .map((e) => `${e.tagName.toLowerCase()}.${e.className}#${e.id} right=${Math.round(e.getBoundingClientRect().right)}`);
}"""


def shoot(stack: Stack, out: Path, made: dict[str, Any]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            ctx = browser.new_context(viewport=viewport)
            page = ctx.new_page()
            errors: list[str] = []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))

            def snap(name: str, page: Any = page, label: str = label) -> None:
                page.wait_for_timeout(400)
                overflow = page.evaluate(OVERFLOW_JS)
                if overflow:
                    print(f"warning: {name}-{label} is wider than the window: {overflow}")
                path = out / f"{name}-{label}.png"
                page.screenshot(path=str(path), full_page=True)
                written.append(path)

            page.goto(f"{stack.url}/console")
            snap("sign-in")
            page.get_by_role("button", name="Sign in as admin").click()
            page.wait_for_url("**/console/admin/schedules")
            page.locator("tbody tr").first.wait_for()
            snap("schedules")
            page.locator("tbody tr", has_text="Algebra").get_by_role("button", name="Attendance for Algebra").click()
            page.locator("#attendance tbody tr").first.wait_for()
            snap("schedules-attendance")
            page.locator("tbody tr", has_text="Physics lab").get_by_role("button", name="Delete Physics lab").click()
            page.get_by_role("dialog").wait_for()
            snap("schedules-delete-dialog")
            page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
            page.goto(f"{stack.url}/console/admin/tasks")
            page.locator("tbody tr").first.wait_for()
            page.locator("tbody tr", has_text="Reading log").get_by_role("button", name="Instances of Reading log").click()
            page.locator("#instances tbody tr").first.wait_for()
            snap("tasks")
            page.goto(f"{stack.url}/console/admin/students")
            page.locator("#student-list tbody tr").first.wait_for()
            snap("students")
            page.goto(f"{stack.url}/console/admin/family?customer={CUSTOMER}")
            page.locator("#family-students tbody tr").first.wait_for()
            page.locator("#family-students tbody tr", has_text="Ada Lovelace").get_by_role("button").click()
            page.locator("#family-student-detail table").first.wait_for()
            snap("family")
            page.goto(f"{stack.url}/console/admin/media")
            page.locator("table.data tbody tr").first.wait_for()  # the list (the charts' tables are folded)
            if label == "desktop":
                page.locator("button.optimise").first.focus()  # shows the tooltip
            snap("media")
            page.locator("tbody tr", has_text="lesson-recording.mp4").get_by_role(
                "button", name="Play lesson-recording.mp4"
            ).click()
            page.locator("video.player").wait_for()
            page.wait_for_function("() => document.querySelector('video.player').readyState >= 2")
            snap("media-player")
            page.goto(f"{stack.url}/console/admin/homework")
            page.locator("tbody tr").first.wait_for()
            page.get_by_role("button", name="Open fractions.pdf").click()
            page.get_by_label("Review history").wait_for()
            snap("homework-review")
            page.goto(f"{stack.url}/console/admin/lessons")
            page.locator("select[name=schedule_id] option").first.wait_for(state="attached")
            page.locator("select[name=schedule_id]").select_option(label="Algebra")
            page.locator("input[name=from]").fill((datetime.now(UTC).date() - timedelta(days=21)).isoformat())
            page.get_by_role("button", name="Show lessons").click()
            page.locator("#lessons tbody tr").first.wait_for()
            snap("lessons")
            page.goto(f"{stack.url}/console/admin/monitors")
            page.locator("body[data-ready=true]").wait_for(state="attached")
            snap("monitors")
            page.goto(f"{stack.url}/console/admin/costs")
            page.locator("body[data-ready=true]").wait_for(state="attached")
            snap("costs")
            page.goto(f"{stack.url}/console/admin/jobs?tab=failed")
            page.locator("table.data tbody tr").first.wait_for()  # the list (the charts' tables are folded)
            snap("jobs")
            page.goto(f"{stack.url}/console/admin/incidents" + (f"?group={made['group_id']}" if made.get("group_id") else ""))
            page.locator("#group-detail section").wait_for()
            snap("incidents")
            if label == "phone":
                page.get_by_role("button", name="Menu").click()
                snap("menu")
            page.evaluate("sessionStorage.clear()")
            page.goto(f"{stack.url}/console")
            page.get_by_role("button", name="Sign in as demo customer").click()
            page.wait_for_url("**/console/customer/homework")
            page.locator("#upload-student option").first.wait_for(state="attached")
            bad = out / ".page.html"
            bad.write_text("<p>not homework</p>")
            page.get_by_label("File").set_input_files(str(bad))
            page.get_by_role("button", name="Upload homework").click()
            page.get_by_role("alert").first.wait_for()
            bad.unlink()
            snap("homework-refused")
            page.goto(f"{stack.url}/console/customer/homework")
            page.locator("tbody tr", has_text="fractions.pdf").wait_for()
            snap("homework-feedback")
            page.goto(f"{stack.url}/console/customer/videos")
            page.locator("tbody tr").first.wait_for()
            snap("videos")
            page.goto(f"{stack.url}/console/customer/lessons")
            page.locator("#family-lessons li, #family-lessons p").first.wait_for()
            snap("family-lessons")
            page.goto(f"{stack.url}/console/customer/tasks")
            page.locator("body[data-ready=true]").wait_for(state="attached")
            snap("family-tasks")
            unexpected = [e for e in errors if "status of 400" not in e]
            if unexpected:
                print(f"{label}: console errors: {unexpected}", file=sys.stderr)
            ctx.close()
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args(argv)
    if not chromium_available():
        print(f"{CHROMIUM} is not installed (apt-get install chromium)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="academy-screens-"))
    stack = start_stack(tmp)
    try:
        made = seed(stack, tmp)
        for path in shoot(stack, args.out.resolve(), made):
            print(path)
    finally:
        stack.stop()
        cleanup(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
