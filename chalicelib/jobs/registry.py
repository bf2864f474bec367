"""Job types: which queue runs them, how long they may take, and the function that does the work.

Functions are named as ``"module:function"`` and imported on first use, so the API's cold start
does not pay for worker code (ffmpeg pipeline and the like).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobType:
    name: str
    queue: str  # a key of chalicelib.jobs.queues.QUEUES
    target: str  # "package.module:function", called as fn(job, ctx) -> dict | None
    timeout_s: int  # a run without heartbeat for longer than this is stuck

    def load(self) -> Callable[..., Any]:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


JOB_TYPES: dict[str, JobType] = {}


def register(name: str, queue: str, target: str, timeout_s: int) -> JobType:
    jt = JobType(name, queue, target, timeout_s)
    JOB_TYPES[name] = jt
    return jt


def get(name: str) -> JobType | None:
    return JOB_TYPES.get(name)


# The product's job types. Add a line per type.
register("noop", "jobs", "chalicelib.jobs.builtin:noop", timeout_s=60)
register("process_video_proof", "media", "chalicelib.media.pipeline:process_video_proof", timeout_s=300)
register("delete_schedule", "jobs", "chalicelib.academic.schedules:run_delete_job", timeout_s=120)
