"""Incident, job and entity in one place, in a real browser: a failing video job's group page shows the
job, and "retry these jobs" (a dry run, then apply) queues it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import Stack, ensure_student, sign_in, upload_video
from tests.media_support import fake_mp4

pytestmark = pytest.mark.browser

CUSTOMER = "cust-demo-1"  # the dev sign-in's demo customer


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def test_a_failing_video_jobs_group_shows_the_job_and_retry_these_jobs_queues_it(page: Any, stack: Stack, tmp_path: Path) -> None:
    student = ensure_student(stack, CUSTOMER, "Grace Hopper")
    video = upload_video(stack, CUSTOMER, student["id"], fake_mp4(media_bytes=1600), filename="group-retry.mp4")
    stack.drain()  # the optimisation fails permanently: not a playable video
    job = stack.ok("GET", f"/admin/media/{video['id']}")["job"]
    assert job["state"] == "failed", job
    incidents = stack.ok("GET", f"/admin/jobs/{job['job_id']}/incidents")["items"]
    assert incidents, "the failed job filed no incident"
    group_id = incidents[0]["group_id"]

    sign_in(page, stack, "admin")
    page.goto(f"{stack.url}/console/admin/incidents?status=all&group={group_id}")
    section = page.locator(f'section[data-group-id="{group_id}"]')
    row = section.locator(f'tr[data-job-id="{job["job_id"]}"]')
    expect(row).to_contain_text("failed")
    expect(row.get_by_role("link")).to_have_attribute("href", re.compile(rf"/console/admin/jobs\?job={job['job_id']}$"))
    expect(section.locator(f'tr[data-entity-id="{video["id"]}"]')).to_contain_text("video")  # the job's entity

    section.get_by_role("button", name="Retry these jobs").click()
    preview = section.locator("[data-retry-preview]")
    expect(preview).to_contain_text(job["job_id"])  # the dry run lists exactly which jobs
    assert stack.ok("GET", f"/admin/jobs/{job['job_id']}")["state"] == "failed"  # nothing queued yet
    preview.get_by_role("button", name=re.compile(r"^Retry \d+ jobs?$")).click()
    page.get_by_role("dialog").get_by_role("button", name="Retry them").click()
    expect(page.locator(".alert-ok", has_text="of this group again")).to_contain_text(
        re.compile(r"Queued \d+ jobs? of this group again")
    )
    assert stack.ok("GET", f"/admin/jobs/{job['job_id']}")["state"] == "queued"
    expect(section.locator(f'tr[data-job-id="{job["job_id"]}"]')).to_contain_text("queued")

    # the job's page lists its incidents, linking back to the group
    page.goto(f"{stack.url}/console/admin/jobs?job={job['job_id']}")
    listed = page.locator(f'[data-job-incidents="{job["job_id"]}"]')
    expect(listed.get_by_role("link").first).to_have_attribute("href", re.compile(rf"group={group_id}$"))
    stack.drain()  # fails again (still not a video): leave the ledger as we found it
