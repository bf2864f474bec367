"""Find a running local stack (``academy up``) and point this process at it.

``academy up`` writes ``.academy/run/stack-<port>.json`` while it runs and removes it on stop.
Other commands call :func:`attach` **before importing the app** (table names and clients derive
from the environment at import time) and then use the app's own modules in-process::

    from academy_cli.localenv import attach
    attach(8000)
    from chalicelib.jobs.dispatch import dispatch
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from chalicelib.core.settings import PROJECT_ROOT

DEFAULT_PORT = 8000
# Dummy credentials: botocore needs some, moto accepts any.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "academy-local",
    "AWS_SECRET_ACCESS_KEY": "academy-local",
    "AWS_SESSION_TOKEN": "academy-local",
}


class StackNotRunning(RuntimeError):
    """No local stack answers on the requested port."""


def run_dir() -> Path:
    """Where state files live (``ACADEMY_RUN_DIR`` overrides; tests isolate themselves with it)."""
    return Path(os.environ.get("ACADEMY_RUN_DIR") or PROJECT_ROOT / ".academy" / "run")


def state_path(port: int, directory: Path | None = None) -> Path:
    """The state file of the stack on ``port`` (in ``directory``, default :func:`run_dir`)."""
    return (directory or run_dir()) / f"stack-{port}.json"


def write_state(port: int, state: dict[str, Any]) -> Path:
    """Write the state file atomically (readers never see half a file)."""
    path = state_path(port)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def remove_state(port: int, pid: int | None = None) -> None:
    """Remove the state file, only if it is ours (``pid`` matches) when a pid is given."""
    path = state_path(port)
    try:
        if pid is not None and json.loads(path.read_text()).get("pid") != pid:
            return
        path.unlink()
    except (FileNotFoundError, ValueError):
        pass


def alive(pid: int) -> bool:
    """Whether a process with this id exists (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(port: int = DEFAULT_PORT, directory: Path | None = None) -> dict[str, Any]:
    """The running stack's state (its file in ``directory``, default :func:`run_dir`); raises
    :class:`StackNotRunning` if there is none (or it died)."""
    path = state_path(port, directory)
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise StackNotRunning(f"no local stack on port {port} (start one with: academy up --port {port})") from None
    except ValueError as exc:
        raise StackNotRunning(f"unreadable state file {path}: {exc}") from None
    if not alive(int(state.get("pid", 0))):
        raise StackNotRunning(f"the local stack on port {port} is gone (pid {state.get('pid')} has exited); start it again")
    return state


def local_aws_env(endpoint: str, region: str) -> dict[str, str]:
    """Environment that sends every boto3/pynamodb call to the emulator at ``endpoint``."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region, **LOCAL_CREDENTIALS}


def apply_env(env: dict[str, str]) -> None:
    """Set ``env`` in ``os.environ`` and forget settings and clients cached under the old one."""
    for key in [k for k in os.environ if k == "AWS_PROFILE" or k.startswith("AWS_ENDPOINT_URL_")]:
        os.environ.pop(key)  # a profile or a per-service endpoint would send calls elsewhere
    os.environ.update(env)
    if "chalicelib.core.settings" in sys.modules:
        sys.modules["chalicelib.core.settings"].get_settings.cache_clear()
    if "chalicelib.core.aws" in sys.modules:
        sys.modules["chalicelib.core.aws"].reset()


def use_dev_auth() -> None:
    """This operator process mints development tokens for the local stack: ask for dev auth explicitly
    (unless the environment already names a mode). The app never defaults to it, and refuses it on Lambda."""
    if not os.environ.get("ACADEMY_AUTH_MODE"):
        apply_env({"ACADEMY_AUTH_MODE": "dev"})


def attach(port: int = DEFAULT_PORT) -> dict[str, Any]:
    """Point this process at the local stack on ``port`` (sets ``os.environ``); returns its state.

    Call it before importing ``app`` or any ``chalicelib`` model: pynamodb models take their table
    names from the stage when they are imported.
    """
    state = read_state(port)
    env = local_aws_env(state["aws_endpoint"], state["region"])
    env.update({"ACADEMY_STAGE": state["stage"], "ACADEMY_AUTH_MODE": "dev", "ACADEMY_BUCKET": state["bucket"]})
    apply_env(env)
    return state
