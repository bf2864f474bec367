"""API fuzzing: schemathesis against ``/openapi.json`` of a running local stack, every documented route.

Each operation is called with a valid token for its role (``x-academy-auth`` in the document) and
with path ids that mostly exist (seeded through the API first; see :func:`seed`), so the fuzzer gets
past the 404s into the handlers. Checks on every response: no 5xx, the status code is documented,
the body matches the documented schema (errors: the envelope), the content type is the documented one.

Examples per operation: ``ACADEMY_FUZZ_EXAMPLES`` (default 15, derandomised: the same inputs every
run). ``make fuzz`` runs more, with fresh randomness.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from academy_cli.spawn import SpawnedStack
from tests.media_support import fake_mp4

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("ACADEMY_FUZZ_EXAMPLES", "15"))
DEEP = os.environ.get("ACADEMY_FUZZ_DEEP") == "1"  # make fuzz: random seeds, both modes
# A long random id that exists nowhere: the "unknown id" side of every path parameter.
MISSING_ID = "01J0000000000000000MISSING0"
FAKE_MP4 = fake_mp4(media_bytes=200)  # passes the upload checks (box structure); ffmpeg then fails on it

# Path-parameter name (or the collection segment before it) → kind of seeded id.
PARAM_KINDS = {
    "student_id": "student",
    "students": "student",
    "homework_id": "homework",
    "homework": "homework",
    "video_id": "video",
    "videos": "video",
    "media": "video",
    "group_id": "group",
    "groups": "group",
    "job_id": "job",
    "jobs": "job",
    "schedule_id": "schedule",
    "schedules": "schedule",
    "task_id": "task",
    "tasks": "task",
    "customers": "customer",
    "customer_id": "customer",
    "date": "date",
    "attendance": "date",
    "instances": "date",
    "area": "console_area",
    "page": "console_page",
    "name": "static_name",
}


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


class Seeder:
    """Creates a few real resources through the API and remembers their ids by kind."""

    def __init__(self, stack: SpawnedStack, doc: dict[str, Any]) -> None:
        self.url = stack.url
        self.admin = stack.auth("admin")
        self.customer = stack.auth("customer")
        self.doc = doc
        self.ids: dict[str, list[str]] = {}
        self.problems: list[str] = []

    def has(self, method: str, path: str) -> bool:
        return method.lower() in self.doc["paths"].get(path, {})

    def keep(self, kind: str, value: Any) -> None:
        if isinstance(value, str) and value:
            self.ids.setdefault(kind, []).append(value)

    def call(self, method: str, path: str, headers: dict[str, str], body: Any = None, expect: tuple[int, ...] = ()) -> Any:
        resp = requests.request(method, f"{self.url}{path}", json=body, headers=headers, timeout=30)
        if expect and resp.status_code not in expect:
            self.problems.append(f"{method} {path} → {resp.status_code}: {resp.text[:300]}")
            return None
        return _json(resp)

    def run(self) -> dict[str, list[str]]:
        student = self.call("POST", "/admin/students", self.admin, {"customer_id": "cust-demo-1", "name": "Fuzz Seed"}, (201,))
        student_id = (student or {}).get("id")
        self.keep("student", student_id)
        if self.has("post", "/admin/customers"):
            body = {"customer_id": "cust-demo-1", "display_name": "Fuzz family", "contact_email": "fuzz@example.com"}
            self.call("POST", "/admin/customers", self.admin, body, (200, 201))
        if student_id and self.has("post", "/customer/homework"):
            body = {"student_id": student_id, "filename": "essay.pdf", "content_type": "application/pdf", "size_bytes": 9}
            hw = self.call("POST", "/customer/homework", self.customer, body, (201,))
            self.keep("homework", ((hw or {}).get("homework") or {}).get("id"))
        if student_id and self.has("post", "/customer/videos"):
            self._video(student_id)
        if self.has("post", "/incidents"):
            body = {"area": "fuzz.seed", "message": "seeded for fuzzing", "location": "/fuzz", "http_status": 500}
            inc = self.call("POST", "/incidents", self.admin, body, (202,))
            self.keep("group", (inc or {}).get("group_id"))
        if student_id and self.has("post", "/admin/schedules"):
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
            body = {
                "title": "Fuzz algebra",
                "student_ids": [student_id],
                "starts_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ends_at": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recurrence": "weekly",
            }
            sched = self.call("POST", "/admin/schedules", self.admin, body, (201,))
            self.keep("schedule", (sched or {}).get("id") or ((sched or {}).get("schedule") or {}).get("id"))
        if self.has("post", "/admin/tasks"):
            task = self.call("POST", "/admin/tasks", self.admin, {"title": "Fuzz reading", "recurrence": "daily"}, (201,))
            self.keep("task", ((task or {}).get("task") or {}).get("id"))
        if self.has("get", "/admin/jobs"):
            for job in (self.call("GET", "/admin/jobs", self.admin, expect=(200,)) or {}).get("items", []):
                self.keep("job", job.get("job_id"))
        today = datetime.now(UTC).date()
        for d in (today, today + timedelta(days=1)):
            self.keep("date", d.isoformat())
        self.ids.setdefault("console_area", []).extend(["admin", "customer"])
        self.ids.setdefault("console_page", []).extend(["schedules", "tasks", "media", "jobs", "incidents", "homework", "videos"])
        self.ids.setdefault("static_name", []).extend(["app.js", "console.css", "icon.svg"])
        self.ids.setdefault("customer", []).append("cust-demo-1")
        return self.ids

    def _video(self, student_id: str) -> None:
        body = {"student_id": student_id, "filename": "proof.mp4", "content_type": "video/mp4", "size_bytes": len(FAKE_MP4)}
        created = self.call("POST", "/customer/videos", self.customer, body, (201,))
        if not created:
            return
        video_id = (created.get("video") or created).get("id")
        self.keep("video", video_id)
        upload = created.get("upload") or {}
        form = requests.post(upload["url"], data=upload["fields"], files={"file": ("proof.mp4", FAKE_MP4)}, timeout=30)
        if form.status_code >= 300:
            self.problems.append(f"video upload → {form.status_code}: {form.text[:200]}")
            return
        self.call("POST", f"/customer/videos/{video_id}/complete", self.customer, expect=(202,))


@pytest.fixture(scope="module")
def api_doc(live_stack: SpawnedStack) -> dict[str, Any]:
    resp = requests.get(f"{live_stack.url}/openapi.json", timeout=10)
    assert resp.status_code == 200
    return resp.json()


@pytest.fixture(scope="module")
def seeded(live_stack: SpawnedStack, api_doc: dict[str, Any]) -> dict[str, list[str]]:
    seeder = Seeder(live_stack, api_doc)
    ids = seeder.run()
    assert not seeder.problems, "seeding through the API failed:\n" + "\n".join(seeder.problems)
    for kind in ("student", "homework", "video", "group", "job"):
        assert ids.get(kind), f"no {kind} id was seeded: the fuzzer would only ever see 404s there"
    print("seeded:", {kind: len(values) for kind, values in ids.items()})
    return ids


def _kind(path: str, param: str) -> str | None:
    if param in PARAM_KINDS:
        return PARAM_KINDS[param]
    before = re.split(r"/\{" + re.escape(param) + r"\}", path)[0].rsplit("/", 1)[-1]
    return PARAM_KINDS.get(before)


@pytest.fixture(scope="module")
def api_schema(live_stack: SpawnedStack, api_doc: dict[str, Any], seeded: dict[str, list[str]]) -> Any:
    schema = schemathesis.openapi.from_dict(api_doc)
    schema.config.update(base_url=live_stack.url)
    schema.config.generation.update(modes=["positive", "negative"] if DEEP else ["positive"])

    def mostly_known(kind: str | None, generated: Any) -> st.SearchStrategy:
        """Three times in four a seeded id of ``kind``; else the generated value or an id that exists nowhere."""
        known = seeded.get(kind or "", [])
        if not known:
            return st.just(generated)
        return st.one_of(*[st.sampled_from(known)] * 6, st.just(generated), st.just(MISSING_ID))

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> st.SearchStrategy:
        path = context.operation.path if context.operation is not None else ""
        return st.fixed_dictionaries({name: mostly_known(_kind(path, name), v) for name, v in (path_parameters or {}).items()})

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> st.SearchStrategy:
        """Id fields of a generated JSON body (``student_id``, ``student_ids``…) mostly name seeded resources."""
        if not isinstance(body, dict):
            return st.just(body)
        fields: dict[str, st.SearchStrategy] = {}
        for key, value in body.items():
            if key in PARAM_KINDS and isinstance(value, str):
                fields[key] = mostly_known(PARAM_KINDS[key], value)
            elif key.endswith("_ids") and isinstance(value, list) and value:
                one = mostly_known(PARAM_KINDS.get(key[:-1]), value[0])
                fields[key] = st.one_of(one.map(lambda v: [v]), st.just(value))
            else:
                fields[key] = st.just(value)
        return st.fixed_dictionaries(fields)

    return schema


def _token_for(case: Any, stack: SpawnedStack) -> dict[str, str]:
    auth = case.operation.definition.raw.get("x-academy-auth", "admin")
    if auth == "public":
        return {}
    return stack.auth("customer" if auth == "customer" else "admin")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not DEEP,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, *([hypothesis.Phase.shrink] if DEEP else [])],
    report_multiple_bugs=True,
)


def fuzz_operation(operation: Any, hooks: Any, stack: SpawnedStack, mode: GenerationMode) -> tuple[Counter[int], str | None]:
    """Run one operation's examples; return the statuses seen and the failure report (None when clean)."""
    statuses: Counter[int] = Counter()

    @SETTINGS
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, hooks=hooks))
    def check(case: Any) -> None:
        response = case.call(headers=_token_for(case, stack), timeout=30)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        check()
    except hypothesis.errors.Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            return statuses, f"{operation.label}: no valid request could be generated from its schema"
        return statuses, None  # nothing in this operation can be made invalid (e.g. one free-form path segment)
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected: one report naming every failing route
        return statuses, f"{operation.label} [{mode.value}]: {type(exc).__name__}: {exc}"
    return statuses, None


def test_every_route_survives_fuzzing(live_stack: SpawnedStack, api_doc: dict[str, Any], api_schema: Any) -> None:
    documented = {(m.upper(), p) for p, ops in api_doc["paths"].items() for m in ops}
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if DEEP else [GenerationMode.POSITIVE]
    fuzzed: set[tuple[str, str]] = set()
    failures: list[str] = []
    total = 0
    operations = [result.ok() for result in api_schema.get_all_operations()]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # deletes last: the seeded resources serve the rest first
    for operation in operations:
        for mode in modes:
            statuses, failure = fuzz_operation(operation, api_schema.hooks, live_stack, mode)
            total += statuses.total()
            print(f"{operation.label:60} {mode.value:8} {dict(sorted(statuses.items()))}")
            if failure:
                failures.append(failure)
        fuzzed.add((operation.method.upper(), operation.path))
    print(f"fuzzed {len(fuzzed)} operations with {total} requests")
    assert fuzzed == documented, f"not fuzzed: {sorted(documented - fuzzed)}"
    assert total >= len(documented) * min(EXAMPLES, 3), "far fewer requests than examples asked for"
    assert not failures, "\n\n".join(failures)
