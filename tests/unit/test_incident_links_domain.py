"""The pure rules behind incident links: what an incident names, the container's memory of stored links,
console paths and "verified fixed"."""

from __future__ import annotations

from chalicelib.incidents import domain


def _job_draft(job_id: str | None = "01J0000000000000000000000A") -> domain.Draft:
    exc = RuntimeError("boom")
    ctx = {"kind": "job", "job_id": job_id, "job_type": "process_video_proof", "entity": {"type": "video", "id": "v1"}}
    return domain.backend_draft(exc, ctx)


def test_a_job_incident_names_its_job_then_its_entities_once_each():
    refs = domain.links_of(_job_draft())
    assert [r.key for r in refs] == ["job#01J0000000000000000000000A", "entity#video#v1"]
    assert refs[0].ref_type == "process_video_proof"
    assert [r.key for r in domain.links_of(_job_draft(None))] == ["entity#video#v1"]  # no job id: no job link
    report = domain.build_draft(
        source="frontend",
        area="customers.homework.upload",
        message="x",
        actor={"role": "customer", "id": "c"},
        entities=[{"type": "student", "id": "s1"}, {"type": "student", "id": "s1"}, {"type": "job", "id": "j"}],
    )
    assert [r.key for r in domain.links_of(report)] == ["entity#student#s1", "entity#job#j"]  # a reported job is an entity
    many = [{"type": "student", "id": f"s{i}"} for i in range(40)]
    report = domain.build_draft(source="frontend", area="a", message="x", actor={}, entities=many)
    assert len(domain.links_of(report)) == domain.LIMITS.max_entities


def test_seen_links_are_bounded_and_per_group():
    seen = domain.SeenLinks(max_size=2)
    refs = [domain.LinkRef("entity", "student", "s1"), domain.LinkRef("entity", "student", "s2")]
    assert seen.unseen("g1", refs) == refs
    seen.saw("g1", refs[0].key)
    assert seen.unseen("g1", refs) == refs[1:] and seen.unseen("g2", refs) == refs
    seen.saw("g1", refs[1].key)
    seen.saw("g2", refs[0].key)  # full: it starts over (a cold container's conditional put is still right)
    assert seen.unseen("g1", refs) == refs


def test_console_paths():
    assert domain.console_path("job", "t", "J1") == "/console/admin/jobs?job=J1"
    assert domain.console_path("entity", "student", "s1", {"customer_id": "c 1"}) == "/console/admin/family?customer=c%201"
    assert domain.console_path("entity", "student", "s1", None) == "/console/admin/students"
    assert domain.console_path("entity", "video", "v1") == "/console/admin/media"
    assert domain.console_path("entity", "widget", "w1") is None


def test_verified_fixed_needs_every_job_to_have_succeeded_after_it_was_seen():
    ok = {
        "job_id": "a",
        "state": "succeeded",
        "first_seen": "2026-01-01T00:00:00.000Z",
        "finished_at": "2026-01-02T00:00:00.000Z",
    }
    later = {**ok, "job_id": "b", "finished_at": "2026-01-03T00:00:00.000Z"}
    v = domain.verification([ok, later], more=False)
    assert v["verified_fixed"] is True and v["verified_fixed_at"] == later["finished_at"] and v["verified_jobs"] == ["a", "b"]
    failed = {**ok, "job_id": "c", "state": "failed"}
    v = domain.verification([ok, failed], more=False)
    assert v["verified_fixed"] is False and v["unfixed_jobs"] == ["c"] and v["verified_fixed_at"] is None
    stale = {**ok, "job_id": "d", "finished_at": "2025-12-31T00:00:00.000Z"}  # succeeded before the group saw it
    assert domain.verification([stale], more=False)["verified_fixed"] is False
    gone = {"job_id": "e", "state": None, "first_seen": ok["first_seen"]}
    assert domain.verification([ok, gone], more=False)["unfixed_jobs"] == ["e"]
    assert domain.verification([], more=False)["verified_fixed"] is False  # nothing proves it
    assert domain.verification([ok], more=True)["verified_fixed"] is False  # not every job was checked
