"""Incident, job and entity in one place: search by entity, a group's jobs and entities with their state,
verified fixed, "retry these jobs" (dry run, scope, idempotence) and a job's incidents."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib.core.settings import get_settings
from chalicelib.incidents import service, store
from chalicelib.jobs import registry, worker
from chalicelib.jobs.dispatch import dispatch
from chalicelib.jobs.queues import QUEUES
from tests import jobops_fns

TYPES = {"t_needs_object": "tests.jobops_fns:needs_object", "t_rejects": "tests.jobops_fns:rejects"}


@pytest.fixture
def hub(app, client, tokens, monkeypatch):
    from chalicelib.core import aws

    aws.reset()
    jobops_fns.reset()
    service.use_intake(None)  # a fresh intake: no links remembered from another test
    for name, target in TYPES.items():
        registry.register(name, "jobs", target, timeout_s=30)
    # no back-off; failures are reported as in production (they file backend.job.<type> incidents)
    monkeypatch.setattr(worker, "POLICY", worker.Policy(retry_delay_s=lambda n: 0))
    sqs = boto3.client("sqs")

    class Hub:
        def url(self, name: str) -> str:
            return sqs.get_queue_url(QueueName=name)["QueueUrl"]

        def pump(self, rounds: int = 30) -> None:
            from academy_cli.pump import drain_once

            name = QUEUES["jobs"].name
            arn = sqs.get_queue_attributes(QueueUrl=self.url(name), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for _ in range(rounds):
                if drain_once(sqs, self.url(name), arn, app.handler_map["run_jobs"]) == (0, 0):
                    return

        def get(self, path: str, token: str | None = None):
            return client.http.get(path, headers=tokens.h(token or tokens.admin))

        def post(self, path: str, body=None, token: str | None = None):
            return client.http.post(
                path, headers=tokens.h(token or tokens.admin), body=json.dumps(body if body is not None else {})
            )

        def report(self, message: str, entities: list[dict[str, str]], token: str | None = None) -> str:
            body = {"area": "customers.homework.upload", "message": message, "location": "https://app/x", "entities": entities}
            r = self.post("/incidents", body, token or tokens.customer_a)
            assert r.status_code == 202, r.body
            return r.json_body["group_id"]

    yield Hub()
    for name in TYPES:
        registry.JOB_TYPES.pop(name, None)
    service.use_intake(None)


def rejected(hub, n: int, message: str) -> list[str]:
    ids = [dispatch("t_rejects", {"key": f"{message}-{i}", "message": message})[0].job_id for i in range(n)]
    hub.pump()
    return ids


def group_of(hub, job_id: str) -> str:
    items = hub.get(f"/admin/jobs/{job_id}/incidents").json_body["items"]
    assert items, f"job {job_id} filed no incident"
    return items[0]["group_id"]


def test_search_groups_by_entity_written_once_per_group(hub, monkeypatch):
    upload = hub.report("Upload failed", [{"type": "student", "id": "stu-1"}, {"type": "homework", "id": "hw-9"}])
    video = hub.report("Video too large", [{"type": "Student", "id": "stu-1"}])
    hub.report("Something else", [{"type": "student", "id": "stu-2"}])

    found = hub.get("/admin/incidents?entity_type=student&entity_id=stu-1").json_body
    assert [g["group_id"] for g in found["items"]] == [video, upload]  # newest first sighting first
    assert found["items"][0]["entity_first_seen"]
    assert hub.get("/admin/incidents?entity_type=student&entity_id=nobody").json_body["items"] == []
    homework = hub.get("/admin/incidents?entity_type=HomeWork&entity_id=hw-9").json_body["items"]  # any case, as reported
    assert [g["group_id"] for g in homework] == [upload]
    # the other filters narrow it
    hub.post(f"/admin/incidents/groups/{upload}/resolve", {})
    open_only = hub.get("/admin/incidents?entity_type=student&entity_id=stu-1&status=open").json_body["items"]
    assert [g["group_id"] for g in open_only] == [video]
    by_title = hub.get("/admin/incidents?entity_type=student&entity_id=stu-1&title=video%20too").json_body["items"]
    assert [g["group_id"] for g in by_title] == [video]
    page = hub.get("/admin/incidents?entity_type=student&entity_id=stu-1&limit=1").json_body
    assert len(page["items"]) == 1 and page["next_token"]
    rest = hub.get(f"/admin/incidents?entity_type=student&entity_id=stu-1&limit=1&next_token={page['next_token']}")
    assert [g["group_id"] for g in rest.json_body["items"]] == [upload]

    # a link is written the first time a group names the entity, not per incident
    puts: list[str] = []
    real = store.put_link
    monkeypatch.setattr(store, "put_link", lambda gid, ref, *a: puts.append(ref.key) or real(gid, ref, *a))
    for _ in range(3):
        hub.report("Upload failed", [{"type": "student", "id": "stu-1"}, {"type": "homework", "id": "hw-9"}])
    assert puts == []  # this container knows both links exist
    service.use_intake(None)  # a cold container: one conditional put per link, which finds it there
    hub.report("Upload failed", [{"type": "student", "id": "stu-1"}])
    hub.report("Upload failed", [{"type": "student", "id": "stu-1"}])
    assert puts == ["entity#student#stu-1"]
    rows = list(store.IncidentLink.query(upload))
    assert sorted(r.link for r in rows) == ["entity#homework#hw-9", "entity#student#stu-1"]


def test_entity_search_bad_input_is_400(hub, tokens):
    for q in ("entity_type=student", "entity_id=x", "entity_type=Bad%20Type&entity_id=x", "entity_type=student&entity_id="):
        r = hub.get(f"/admin/incidents?{q}")
        assert r.status_code == 400, (q, r.status_code)
    assert hub.get("/admin/incidents?entity_type=student&entity_id=x", tokens.customer_a).status_code == 403


def test_group_links_show_each_job_and_entity_with_its_state(hub, tokens):
    r = hub.post("/admin/students", {"customer_id": "cust-a", "name": "Ada Lovelace"})
    assert r.status_code == 201, r.body
    student = r.json_body["id"]
    gid = hub.report(
        "Upload failed",
        [{"type": "student", "id": student}, {"type": "schedule", "id": "gone-1"}, {"type": "widget", "id": "w1"}],
    )
    items = hub.get(f"/admin/incidents/groups/{gid}/links?kind=entity").json_body["items"]
    by_id = {i["id"]: i for i in items}
    assert by_id[student]["exists"] is True and by_id[student]["state"]["name"] == "Ada Lovelace"
    assert by_id[student]["console_path"] == "/console/admin/family?customer=cust-a"
    assert by_id["gone-1"]["exists"] is False and by_id["gone-1"]["state"] is None
    assert by_id["w1"]["exists"] is None and by_id["w1"]["console_path"] is None  # a kind nothing looks up

    jobs = rejected(hub, 2, "bad input")
    jgid = group_of(hub, jobs[0])
    page = hub.get(f"/admin/incidents/groups/{jgid}/links?kind=job&limit=1").json_body
    assert len(page["items"]) == 1 and page["next_token"]
    rest = hub.get(f"/admin/incidents/groups/{jgid}/links?kind=job&next_token={page['next_token']}").json_body
    listed = page["items"] + rest["items"]
    assert sorted(i["id"] for i in listed) == sorted(jobs)
    one = listed[0]
    assert one["kind"] == "job" and one["type"] == "t_rejects" and one["exists"] is True
    assert one["state"]["state"] == "failed" and "bad input" in one["state"]["last_error"]["message"]
    assert one["console_path"] == f"/console/admin/jobs?job={one['id']}"
    everything = hub.get(f"/admin/incidents/groups/{jgid}/links").json_body["items"]
    assert {i["kind"] for i in everything} == {"job"}  # these jobs name no entity
    assert hub.get("/admin/incidents/groups/nope/links").status_code == 404
    assert hub.get(f"/admin/incidents/groups/{jgid}/links?kind=other").status_code == 400
    assert hub.get(f"/admin/incidents/groups/{jgid}/links", tokens.customer_a).status_code == 403


def test_retry_these_jobs_is_a_dry_run_by_default_and_touches_only_the_group(hub, tokens):
    mine = rejected(hub, 3, "bad input")
    theirs = rejected(hub, 2, "other failure")  # the same job type, another group
    gid = group_of(hub, mine[0])
    assert group_of(hub, theirs[0]) != gid

    dry = hub.post(f"/admin/incidents/groups/{gid}/retry-jobs", {})
    assert dry.status_code == 200, dry.body
    body = dry.json_body
    assert body["dry_run"] is True and body["matched"] == 3 and body.get("retried") is None
    assert sorted(j["job_id"] for j in body["jobs"]) == sorted(mine)
    failed = {j["job_id"] for j in hub.get("/admin/jobs?state=failed").json_body["items"]}
    assert failed == set(mine) | set(theirs)  # the dry run changed nothing

    applied = hub.post(f"/admin/incidents/groups/{gid}/retry-jobs", {"apply": True}).json_body
    assert sorted(applied["retried"]) == sorted(mine) and applied["skipped"] == []
    states = {j: hub.get(f"/admin/jobs/{j}").json_body["state"] for j in mine + theirs}
    assert all(states[j] == "queued" for j in mine)
    assert all(states[j] == "failed" for j in theirs)  # other failed jobs of the same type stay failed
    again = hub.post(f"/admin/incidents/groups/{gid}/retry-jobs", {"apply": True}).json_body
    assert again["matched"] == 0 and again["retried"] == []  # idempotent: nothing failed is left to queue

    audit = hub.get("/admin/audit?action=incident_group.retry_jobs").json_body["items"]
    assert len(audit) == 3 and audit[0]["target"] == f"incident_group:{gid}"
    assert sorted(audit[1]["result"]["retried"]) == sorted(mine) and audit[2]["result"]["dry_run"] is True

    for body in ({"apply": "true"}, {"apply": 1}, {"limit": 0}, {"limit": 101}, {"extra": 1}, {"next_token": "forged"}):
        r = hub.post(f"/admin/incidents/groups/{gid}/retry-jobs", body)
        assert r.status_code == 400, (body, r.status_code)
    assert hub.post("/admin/incidents/groups/nope/retry-jobs", {}).status_code == 404
    assert hub.post(f"/admin/incidents/groups/{gid}/retry-jobs", {}, tokens.customer_a).status_code == 403


def test_verified_fixed_only_when_every_failed_job_has_since_succeeded(hub):
    first = dispatch("t_needs_object", {"key": "hw/1.pdf"})[0].job_id
    second = dispatch("t_needs_object", {"key": "hw/2.pdf"})[0].job_id
    hub.pump()
    gid = group_of(hub, first)
    assert group_of(hub, second) == gid  # one error text: one group
    g = hub.get(f"/admin/incidents/groups/{gid}").json_body["group"]
    assert g["verified_fixed"] is False and sorted(g["unfixed_jobs"]) == sorted([first, second]) and g["jobs_checked"] == 2

    s3 = boto3.client("s3")
    s3.put_object(Bucket=get_settings().bucket_name, Key="hw/1.pdf", Body=b"x")  # fix one
    applied = hub.post(f"/admin/incidents/groups/{gid}/retry-jobs", {"apply": True}).json_body
    assert sorted(applied["retried"]) == sorted([first, second])
    hub.pump()  # a.pdf succeeds; b.pdf fails again (and is failed once more)
    assert hub.get(f"/admin/jobs/{first}").json_body["state"] == "succeeded"
    assert hub.get(f"/admin/jobs/{second}").json_body["state"] == "failed"
    g = hub.get(f"/admin/incidents/groups/{gid}").json_body["group"]
    assert g["verified_fixed"] is False and g["unfixed_jobs"] == [second]

    s3.put_object(Bucket=get_settings().bucket_name, Key="hw/2.pdf", Body=b"x")
    hub.post(f"/admin/incidents/groups/{gid}/retry-jobs", {"apply": True})
    hub.pump()
    g = hub.get(f"/admin/incidents/groups/{gid}").json_body["group"]
    assert g["verified_fixed"] is True and sorted(g["verified_jobs"]) == sorted([first, second])
    finished = hub.get(f"/admin/jobs/{second}").json_body["finished_at"]
    assert g["verified_fixed_at"] == max(finished, hub.get(f"/admin/jobs/{first}").json_body["finished_at"])
    # a group with no jobs is never "verified fixed" (nothing proves it)
    other = hub.report("Upload failed", [])
    assert hub.get(f"/admin/incidents/groups/{other}").json_body["group"]["verified_fixed"] is False


def test_a_jobs_page_lists_its_incidents(hub, tokens):
    job_id = dispatch("t_needs_object", {"key": "hw/c.pdf"})[0].job_id
    hub.pump()
    r = hub.get(f"/admin/jobs/{job_id}/incidents?limit=2")
    assert r.status_code == 200, r.body
    page = r.json_body
    attempts = QUEUES["jobs"].max_receive_count
    assert len(page["items"]) == 2 and page["next_token"]  # one incident per failed attempt
    rest = hub.get(f"/admin/jobs/{job_id}/incidents?limit=50&next_token={page['next_token']}").json_body
    items = page["items"] + rest["items"]
    assert len(items) == attempts and all(i["job_id"] == job_id for i in items)
    assert items[0]["group"]["title"] and items[0]["group"]["status"] == "open"
    assert items[0]["area"] == "backend.job.t_needs_object"
    other = dispatch("t_rejects", {"key": "z", "message": "nope"})[0].job_id
    hub.pump()
    assert [i["job_id"] for i in hub.get(f"/admin/jobs/{other}/incidents").json_body["items"]] == [other]
    assert hub.get("/admin/jobs/01J00000000000000000000000/incidents").status_code == 404
    assert hub.get(f"/admin/jobs/{job_id}/incidents", tokens.customer_a).status_code == 403
