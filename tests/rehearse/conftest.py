"""The rehearsal's fixtures: the real package (built once per session) and the ffmpeg layer zip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``academy package`` of this tree, as a user would build it (sam.json + deployment.zip)."""
    out = tmp_path_factory.mktemp("package")
    academy = str(Path(sys.executable).parent / "academy")
    subprocess.run([academy, "package", "--out", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="session")
def layer_zip() -> Path:
    """The ffmpeg layer zip (``make layer``), built if missing."""
    from academy_cli.rehearse.stack import LAYER_ZIP

    if not LAYER_ZIP.is_file():
        subprocess.run([sys.executable, str(ROOT / "layers" / "ffmpeg" / "build.py")], cwd=ROOT, check=True, timeout=600)
    return LAYER_ZIP
