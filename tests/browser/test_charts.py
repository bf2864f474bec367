"""Trend charts in a real browser, against the real metrics API and the real job path (no answers faked).

A video's optimisation fails (its original is missing from the bucket when the worker runs), the
original comes back, an admin retries the job from the Jobs page and it succeeds: the job type's
throughput chart, its summary and its data table show the failure and the success, and the Media
page today's minutes and cost. Incidents: a group's sparkline in the list, and its chart with the
resolve and reopen moments marked.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import Stack, StackError, ensure_student, make_mp4, sign_in, upload_video

pytestmark = pytest.mark.browser

CUSTOMER = "cust-demo-1"
JOB_TYPE = "process_video_proof"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def need(stack: Stack, method: str, path: str) -> None:
    if not stack.has_route(method, path):
        pytest.skip(f"{method} {path} is not in the app yet")


def totals(stack: Stack) -> dict[str, int]:
    """The job type's failed and succeeded counts over the last 24 h (hour buckets), from the API."""
    out = stack.ok("GET", f"/admin/metrics/jobs?type={JOB_TYPE}&step=hour")
    buckets = out["series"][0]["buckets"] if out["series"] else []
    return {k: sum(b[k] for b in buckets) for k in ("failed", "succeeded")}


def move_original(stack: Stack, video_id: str, *, away: bool) -> None:
    """Take the video's original out of the bucket (kept beside it), or put the same bytes back."""
    result = stack.attached_python(
        f"""
        import boto3
        from chalicelib.core.settings import get_settings
        from chalicelib.media import store
        video = store.get_video({video_id!r})
        key = next(v.key for v in video.variants if v.name == "original")
        s3, bucket = boto3.client("s3", region_name=state["region"]), get_settings().bucket_name
        src, dst = (key, key + ".aside") if {away!r} else (key + ".aside", key)
        s3.copy_object(Bucket=bucket, Key=dst, CopySource={{"Bucket": bucket, "Key": src}})
        s3.delete_object(Bucket=bucket, Key=src)
        print("moved", src, "->", dst)
        """
    )
    if result.returncode != 0:
        raise StackError(f"could not move the original:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


def table_rows(figure: Any) -> list[dict[str, str]]:
    """The chart's <details> table as dicts (column header → cell text)."""
    table = figure.locator("details.chart-data table")
    head = table.locator("thead th").all_inner_texts()
    rows = []
    for tr in table.locator("tbody tr").all():
        cells = tr.locator("th, td").all_inner_texts()
        rows.append(dict(zip(head, cells, strict=True)))
    return rows


def test_a_failure_then_a_success_after_a_retry_show_on_the_jobs_chart(page: Any, stack: Stack, tmp_path: Path) -> None:
    need(stack, "GET", "/admin/metrics/jobs")
    stack.drain()  # what earlier tests left queued runs now, not inside this test's counts
    before = totals(stack)
    student = ensure_student(stack, CUSTOMER, "Grace Hopper")
    video = upload_video(stack, CUSTOMER, student["id"], make_mp4(tmp_path / "v.mp4").read_bytes(), filename="retried.mp4")
    move_original(stack, video["id"], away=True)
    stack.drain()  # the worker finds no original: the job fails (permanently)
    job = stack.ok("GET", f"/admin/media/{video['id']}")["job"]
    assert job["state"] == "failed" and "missing from the bucket" in job["last_error"]["message"], job
    move_original(stack, video["id"], away=False)  # the same bytes (the same ETag) are back

    sign_in(page, stack, "admin", at="/console/admin/jobs?tab=failed&trend=24h")
    figure = page.locator(f'figure[data-chart="jobs-throughput-{JOB_TYPE}"]')
    expect(figure.locator("svg rect.bar.tone-bad").first).to_be_attached()  # the failure is drawn
    row = page.locator(f'tr[data-job-id="{job["job_id"]}"]')
    row.get_by_role("button", name=re.compile("^Retry")).click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Job {job['job_id']} ({JOB_TYPE}) is queued again.")
    stack.drain()  # now it runs through
    assert stack.ok("GET", f"/admin/jobs/{job['job_id']}")["state"] == "succeeded"

    page.get_by_role("button", name="Refresh now").click()  # the page's own refresh redraws the charts
    expect(figure.locator("svg rect.bar.tone-ok").first).to_be_attached()
    label = figure.locator("svg[role=img]").get_attribute("aria-label") or ""
    assert re.search(r"Succeeded: \d+ in all", label) and re.search(r"Failed: \d+ in all", label), label
    figure.locator("details.chart-data summary").click()
    rows = table_rows(figure)
    assert rows and set(rows[0]) == {"Time (local)", "UTC", "Succeeded", "Failed", "Retried"}
    assert all(r["UTC"].endswith(" UTC") for r in rows)
    got = {k: sum(int(r[k]) for r in rows) for k in ("Failed", "Succeeded")}
    # Exactly one more of each than before this test: the chart reads what the transitions counted.
    assert got == {"Failed": before["failed"] + 1, "Succeeded": before["succeeded"] + 1}, (got, before)
    assert sum(int(r["Retried"]) for r in rows) >= 1  # the admin's retry
    # The run-time chart has samples now (two runs ended), the wait-time chart too.
    for chart in ("run", "wait"):
        drawn = page.locator(f'figure[data-chart="jobs-{chart}-{JOB_TYPE}"]').locator("svg path.line, svg circle.dot")
        expect(drawn.first).to_be_attached()

    # The optimised video counts on the Media page: today's (UTC) minutes and both costs are above zero.
    cost = stack.ok("GET", "/admin/metrics/media?step=hour")["cost"]
    today = next(d for d in cost["per_day"] if d["date"] == time.strftime("%Y-%m-%d", time.gmtime()))
    assert today["video_minutes"] > 0 and today["lambda_usd"] > 0 and today["mediaconvert_usd"] > 0, cost
    page.goto(f"{stack.url}/console/admin/media")
    minutes = page.locator('figure[data-chart="media-minutes"]')
    minutes.locator("details.chart-data summary").click()
    assert table_rows(minutes)[-1]["Video minutes"] not in ("0 min", "—")  # the last row: today
    money = page.locator('figure[data-chart="media-cost"]')
    money.locator("details.chart-data summary").click()
    last = table_rows(money)[-1]
    assert last["Lambda (measured)"] != "$0" and last["MediaConvert (list price)"] != "$0", last
    expect(page.locator(".media-trends")).to_contain_text(f"List prices as of {cost['prices_as_of']}")


def test_incident_sparkline_and_the_group_chart_with_its_resolve_and_reopen_marked(page: Any, stack: Stack) -> None:
    need(stack, "GET", "/admin/metrics/incidents")
    area = f"admin.console.trend_test_{int(time.time())}"
    body = {"area": area, "message": "Trend me", "http_status": 409, "location": "test"}
    for _ in range(3):
        stack.ok("POST", "/incidents", body)
    group_id = stack.ok("GET", f"/admin/incidents?area={area}")["items"][0]["group_id"]
    api = stack.ok("GET", f"/admin/metrics/incidents?group={group_id}&step=hour")
    counted = sum(b["stored"] + b["suppressed"] for s in api["series"] for b in s["buckets"])
    assert counted == 3, api  # the intake counted every incident (stored or suppressed), once

    sign_in(page, stack, "admin", at=f"/console/admin/incidents?status=all&area={area}")
    row = page.locator(f'tr[data-group-id="{group_id}"]')
    spark = row.locator(".spark-cell")
    expect(spark).to_have_attribute("data-spark-total", "3")  # one metrics call for the list, mapped by group id
    assert "3 in all" in (spark.locator("svg[role=img]").get_attribute("aria-label") or "")
    expect(spark).to_contain_text("3 in 24 h")

    row.get_by_role("button", name="Trend me").click()
    section = page.locator(f'section[data-group-id="{group_id}"]')
    section.get_by_role("button", name="Mark resolved").click()
    expect(section.get_by_role("button", name="Reopen")).to_be_visible()
    section = page.locator(f'section[data-group-id="{group_id}"]')
    section.get_by_role("button", name="Reopen").click()
    expect(section.get_by_role("button", name="Mark resolved")).to_be_visible()

    figure = page.locator(f'section[data-group-id="{group_id}"] figure[data-chart="incident-group-{group_id}"]')
    expect(figure.locator("g.marker-resolved")).to_have_count(1)
    expect(figure.locator("g.marker-reopened")).to_have_count(1)
    label = figure.locator("svg[role=img]").get_attribute("aria-label") or ""
    assert "Stored: 3 in all" in label and "Resolved at" in label and "Reopened at" in label, label
    figure.locator("details.chart-data summary").click()
    marks = figure.locator("ul.chart-marks li").all_inner_texts()
    assert [m.split(":")[0] for m in marks] == ["Resolved", "Reopened"] and all(m.endswith("UTC)") for m in marks), marks
    rows = table_rows(figure)
    assert sum(int(r["Stored"]) + int(r["Counted only"]) for r in rows) == 3


def test_the_scheduler_chart_counts_a_run_of_the_task_instance_writer(page: Any, stack: Stack) -> None:
    need(stack, "GET", "/admin/metrics/scheduler")
    name = "daily_task_instances"

    def runs() -> int:
        out = stack.ok("GET", "/admin/metrics/scheduler?step=hour")
        return sum(b["runs"] for s in out["series"] if s["function"] == name for b in s["buckets"])

    before = runs()
    fired = stack.attached_python(
        f"""
        from academy_cli import schedules
        from academy_cli.localstack import invoke_scheduled
        from app import app
        fn = next(f for f in schedules.scheduled_functions(app) if f.name == {name!r})
        assert invoke_scheduled(fn, state["region"], None, print)
        """
    )
    assert fired.returncode == 0, fired.stderr[-3000:]
    assert runs() == before + 1  # the run was counted as it ended

    sign_in(page, stack, "admin", at="/console/admin/monitors")
    figure = page.locator(f'section[data-monitor="{name}"] figure[data-chart="scheduler-{name}"]')
    expect(figure.locator("svg[role=img]")).to_have_attribute("aria-label", re.compile(rf"Runs: {before + 1} in all"))
    figure.locator("details.chart-data summary").click()
    rows = table_rows(figure)
    assert sum(int(r["Runs"]) for r in rows) == before + 1
    assert {"Instances created", "Skipped (lease held)"} <= set(rows[0])
