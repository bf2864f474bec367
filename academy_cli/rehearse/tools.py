"""The rehearsal's own Python trees, installed apart from the dev venv (pinned, from PyPI).

- ``runtime``: boto3/botocore as the python3.12 Lambda runtime provides them (``runtime-requirements.txt``);
  the only thing besides ``deployment.zip`` and the layers on a function process's path.
- ``sam``: aws-sam-translator and its dependencies (``tools-requirements.txt``); it pins pydantic 2.13,
  which the shipped pydantic 2.14 excludes, so it runs in its own interpreter (:mod:`.template`).

Both live under ``<venv>/rehearse/`` (``make clean`` removes them) and are reinstalled when their
requirements file changes. ``python -m academy_cli.rehearse.tools`` installs them (``make rehearse`` does).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREES = {"runtime": HERE / "runtime-requirements.txt", "sam": HERE / "tools-requirements.txt"}


class ToolsMissing(RuntimeError):
    """A tree could not be installed (the message carries pip's last lines)."""


def root() -> Path:
    return Path(sys.prefix) / "rehearse"


def tree(name: str, install: bool = True) -> Path:
    """The directory of tree ``name`` (``runtime`` or ``sam``), installed first if missing or stale."""
    reqs = TREES[name]
    target = root() / name
    stamp = target / ".requirements-sha256"
    digest = hashlib.sha256(reqs.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return target
    if not install:
        raise ToolsMissing(f"{target} is not installed: run python -m academy_cli.rehearse.tools")
    shutil.rmtree(target, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    cmd += ["--target", str(target), "-r", str(reqs)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise ToolsMissing(f"pip could not install {reqs.name}:\n{proc.stderr[-2000:]}")
    stamp.write_text(digest)
    return target


def main() -> None:
    for name in TREES:
        print(f"{name}: {tree(name)}")


if __name__ == "__main__":
    main()
