"""``academy jobs``: the CLI against the app served over real HTTP (a local server in a thread)."""

from __future__ import annotations

import getpass
import json

from click.testing import CliRunner

from academy_cli.main import cli
from chalicelib.jobs import ledger, states
from chalicelib.jobs.dispatch import dispatch
from chalicelib.jobs.queues import QUEUES
from tests import jobops_fns
from tests.functional.test_jobs_api import ops, rejected  # noqa: F401 - the ops fixture


def academy(url: str, *args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, ["jobs", "--url", url, *args], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def test_list_retry_cancel_over_http(ops, api_url):  # noqa: F811
    failed = rejected(2, message="bad input: missing page")
    ops.pump()
    code, out, _ = academy(api_url, "list", "--state", "failed")
    assert code == 0
    assert all(j in out for j in failed) and "bad input: missing page" in out

    code, out, _ = academy(api_url, "list", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["job_id"] for r in rows] == sorted(failed, reverse=True)

    code, out, _ = academy(api_url, "retry", failed[0])
    assert code == 0 and f"queued {failed[0]}" in out
    code, out, _ = academy(api_url, "retry", failed[0])  # idempotent: reported, not repeated
    assert code == 0 and f"unchanged {failed[0]}" in out and "queued" in out
    assert ops.depth(QUEUES["jobs"].name) == 1

    code, out, _ = academy(api_url, "cancel", failed[0], failed[1])
    assert code == 0 and out.count("cancelled ") == 2
    ops.pump()
    assert {ledger.get(j).state for j in failed} == {states.CANCELLED}
    assert jobops_fns.calls["r0"] == 1  # the retry's message was skipped

    code, _, err = academy(api_url, "cancel", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert code == 1 and "does not exist" in err

    audit = ops.get("/admin/audit?action=job.cancel").json_body["items"]
    assert {e["actor"]["id"] for e in audit} == {f"cli-{getpass.getuser()}"}


def test_bulk_retry_previews_then_applies_in_pages(ops, api_url):  # noqa: F811
    ids = rejected(7, message="Upstream timeout")
    dispatch("t_rejects", {"key": "other", "message": "corrupt"})
    ops.pump()
    code, out, _ = academy(api_url, "retry", "--error-contains", "timeout")
    assert code == 0 and "7 job(s) would be retried." in out
    assert {ledger.get(i).state for i in ids} == {states.FAILED}
    assert ops.depth(QUEUES["jobs"].name) == 0

    code, _, err = academy(api_url, "retry", "--apply")
    assert code == 2 and "needs --type" in err

    code, out, err = academy(api_url, "retry", "--type", "t_rejects", "--error-contains", "timeout", "--apply", "--batch", "3")
    assert code == 0, err
    assert "Retried 7 job(s); skipped 0." in out
    assert "retrying" in err  # the progress bar (stderr)
    assert {ledger.get(i).state for i in ids} == {states.QUEUED}
    assert ops.depth(QUEUES["jobs"].name) == 7

    code, out, _ = academy(api_url, "retry", "--error-contains", "timeout", "--apply")
    assert code == 0 and "Retried 0 job(s)" in out
    assert ops.depth(QUEUES["jobs"].name) == 7


def test_unreachable_api_is_a_clear_error():
    code, _, err = academy("http://127.0.0.1:9", "list")
    assert code == 1 and "is the stack up" in err


def test_recount_previews_drift_then_repairs_it_and_audits(ops, api_url):  # noqa: F811
    from chalicelib.core.audit import AuditEntry
    from chalicelib.jobs import counts

    rejected(2)
    ops.pump()
    counts.add([(states.FAILED, "t_drift", 3)])  # drift: counted, but no such jobs
    code, out, err = academy(api_url, "recount", "--aws")  # --aws: this process's (emulated) AWS
    report = json.loads(out)
    assert code == 0 and report["dry_run"] and report["drift"] and "--apply" in err
    assert report["drift"] == [{"state": "failed", "type": "t_drift", "counted": 3, "actual": 0}]
    code, out, _ = academy(api_url, "recount", "--aws", "--apply")
    assert code == 0 and json.loads(out)["repaired"]
    code, out, _ = academy(api_url, "recount", "--aws", "--apply")
    assert json.loads(out)["drift"] == []  # idempotent
    entries = [e for e in AuditEntry.scan() if getattr(e, "action", None) == "jobs.recount"]
    assert len(entries) == 2
