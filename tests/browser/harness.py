"""A local stack (``academy up``) in a subprocess, and what browser tests and screenshots need around it.

The stack runs with its own environment (stage ``dev``, its own run directory, no queue workers and
no scheduler), so tests decide when background work happens: :meth:`Stack.drain` runs the app's
own SQS handlers once, in a short ``python -c`` subprocess attached to the stack (this process never
imports the app against it: pytest's own environment is stage ``test``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from academy_cli import spawn
from academy_cli.spawn import SpawnedStack

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIGNING_KEY = "browser-signing-key-not-secret-0123456789abcdef"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_available() -> bool:
    """Debian's Chromium is what the browser tests drive (nothing is downloaded at run time)."""
    return os.access(CHROMIUM, os.X_OK)


class StackError(RuntimeError):
    """The stack did not start, or an API call the test relies on failed."""


@dataclass
class Stack(SpawnedStack):
    """A running ``academy up``; ``api()`` calls it over HTTP with dev sign-in tokens."""

    signed_in: dict[tuple[str, str | None], str] = field(default_factory=dict)  # (SpawnedStack.tokens is the stack's minter)

    def token(self, role: str, sub: str | None = None) -> str:
        """A development token from the console's own dev sign-in route (cached)."""
        key = (role, sub)
        if key not in self.signed_in:
            body: dict[str, Any] = {"role": role, **({"sub": sub} if sub else {})}
            r = requests.post(f"{self.url}/console/dev-sign-in", json=body, timeout=30)
            if r.status_code != 200:
                raise StackError(f"dev sign-in → {r.status_code}: {r.text[:300]}")
            self.signed_in[key] = r.json()["token"]
        return self.signed_in[key]

    def api(self, method: str, path: str, body: Any = None, *, role: str = "admin", sub: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(role, sub)}"}
        return requests.request(method, self.url + path, json=body, headers=headers, timeout=60)

    def ok(self, method: str, path: str, body: Any = None, *, role: str = "admin", sub: str | None = None) -> Any:
        r = self.api(method, path, body, role=role, sub=sub)
        if r.status_code >= 300:
            raise StackError(f"{method} {path} → {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    def has_route(self, method: str, path: str) -> bool:
        """False when the app has no such route yet (Chalice answers an unknown route with 403 / 404)."""
        r = self.api(method, path)
        return not (r.status_code == 403 and "Missing Authentication Token" in r.text)

    def attached_python(self, code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        prelude = f"from academy_cli.localenv import attach\nstate = attach({self.port})\n"
        return subprocess.run(
            [sys.executable, "-c", prelude + textwrap.dedent(code)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(ROOT),
        )

    def drain(self, rounds: int = 5) -> str:
        """Hand every queued SQS message to the app's handlers (as the workers would), until the queues are empty."""
        result = self.attached_python(
            f"""
            import boto3
            from chalice.app import SQSEventConfig
            from academy_cli.pump import drain_once
            from app import app
            sqs = boto3.client("sqs", region_name=state["region"])
            total = 0
            for _ in range({rounds}):
                got = 0
                for es in app.event_sources:
                    if isinstance(es, SQSEventConfig):
                        url = sqs.get_queue_url(QueueName=es.queue)["QueueUrl"]
                        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                        n, _failed = drain_once(sqs, url, arn, app.handler_map[es.name], batch_size=es.batch_size,
                                                wait_s=0, timeout_s=900, function_name=es.name, region=state["region"])
                        got += n
                total += got
                if not got:
                    break
            print("drained", total)
            """
        )
        if result.returncode != 0:
            raise StackError(f"drain failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        return result.stdout.strip()


def start_stack(tmp: Path, timeout: float = 90) -> Stack:
    """``academy up`` on a free port: ephemeral data, no workers, no scheduler. Waits for "ready"."""
    try:
        return spawn.start_stack(
            tmp,
            signing_key=SIGNING_KEY,
            extra_args=("--no-workers", "--no-scheduler"),
            timeout_s=timeout,
            cwd=ROOT,
            stack_type=Stack,
        )
    except spawn.StackStartError as exc:
        raise StackError(str(exc)) from exc


# --- test data ------------------------------------------------------------------------------------


def make_mp4(path: Path, seconds: int = 1) -> Path:
    """A small real H.264/AAC MP4 (640x360) made with the pinned ffmpeg."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    cmd = [
        ffmpeg,
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x360:rate=15",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
    ]
    cmd += ["-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)]
    subprocess.run(cmd, check=True, timeout=60)
    return path


def upload_video(stack: Stack, customer: str, student_id: str, data: bytes, filename: str = "proof.mp4") -> dict[str, Any]:
    """A customer's video upload through the API: presigned POST to S3, then complete (which queues optimisation)."""
    created = stack.ok(
        "POST",
        "/customer/videos",
        {"student_id": student_id, "filename": filename, "content_type": "video/mp4", "size_bytes": len(data)},
        role="customer",
        sub=customer,
    )
    up = created["upload"]
    r = requests.post(up["url"], data=up["fields"], files={"file": (filename, data, "video/mp4")}, timeout=60)
    if r.status_code >= 300:
        raise StackError(f"S3 upload → {r.status_code}: {r.text[:300]}")
    video = created["video"]
    stack.ok("POST", f"/customer/videos/{video['id']}/complete", role="customer", sub=customer)
    return video


def ensure_student(stack: Stack, customer: str, name: str) -> dict[str, Any]:
    for s in stack.ok("GET", "/customer/students?limit=100", role="customer", sub=customer)["items"]:
        if s["name"] == name:
            return s
    return stack.ok("POST", "/admin/students", {"customer_id": customer, "name": name, "timezone": "Europe/London"})


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def sign_in(page: Any, stack: Stack, role: str, at: str | None = None) -> None:
    """The dev stage's one-click sign-in, as a user would do it (from page ``at``, where it then lands)."""
    page.goto(f"{stack.url}{at or '/console'}")
    label = "Sign in as admin" if role == "admin" else "Sign in as demo customer"
    page.get_by_role("button", name=label).click()
    page.wait_for_url(f"{stack.url}/console/{role}/**")
    page.locator("body[data-ready=true]").wait_for(state="attached")  # data loaded, forms live
