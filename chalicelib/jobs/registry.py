"""Job types: which queue runs them, how long they may take, and the function that does the work.

A capability registers its job types in its own ``jobs.py`` with :func:`job_type`; the catalog
(:data:`CATALOG`, ``chalicelib/job_types.py``) imports every such module, so a reader can follow
a message from its queue to the code that runs it. A capability's ``jobs.py`` stays light: heavy
machinery (the ffmpeg pipeline, say) is imported inside the job body, so the API's cold start,
which loads the catalog to enqueue, does not pay for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext

JobResult = dict[str, Any] | None
JobFn = Callable[["Job", "JobContext"], JobResult]
F = TypeVar("F", bound=JobFn)  # a job body: fn(job, ctx) -> dict | None

CATALOG = "chalicelib.job_types"  # the one module that imports every capability's jobs.py


@dataclass(frozen=True)
class JobType:
    name: str
    queue: str  # a key of chalicelib.jobs.queues.QUEUES
    timeout_s: int  # a run without heartbeat for longer than this is stuck
    fn: JobFn | None = None  # the job body, called as fn(job, ctx) -> dict | None
    target: str | None = None  # or "package.module:function", imported on first run (tests, benches)

    def load(self) -> JobFn:
        if self.fn is not None:
            return self.fn
        module, _, attr = str(self.target).partition(":")
        fn: JobFn = getattr(importlib.import_module(module), attr)
        return fn


JOB_TYPES: dict[str, JobType] = {}
_catalog_loaded = False


def job_type(name: str, *, queue: str, timeout_s: int) -> Callable[[F], F]:
    """Register the decorated function as the body of job type ``name``."""

    def decorate(fn: F) -> F:
        JOB_TYPES[name] = JobType(name, queue, timeout_s, fn=fn)
        return fn

    return decorate


def register(name: str, queue: str, target: str, timeout_s: int) -> JobType:
    """Register a job type by ``"module:function"`` (extra types that tests and benches add)."""
    jt = JobType(name, queue, timeout_s, target=target)
    JOB_TYPES[name] = jt
    return jt


def _load_catalog() -> None:
    global _catalog_loaded
    if not _catalog_loaded:
        importlib.import_module(CATALOG)
        _catalog_loaded = True


def get(name: str) -> JobType | None:
    _load_catalog()
    return JOB_TYPES.get(name)


def known() -> dict[str, JobType]:
    """Every registered job type, by name."""
    _load_catalog()
    return JOB_TYPES
