"""The layer build's ELF reader finds the GLIBC versions ffmpeg needs (cross-checked with objdump when present)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _build_module():
    spec = importlib.util.spec_from_file_location("layer_build", ROOT / "layers" / "ffmpeg" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_glibc_versions_of_the_pinned_ffmpeg_are_within_amazon_linux_2023():
    import imageio_ffmpeg

    build = _build_module()
    binary = Path(imageio_ffmpeg.get_ffmpeg_exe())
    versions = build.glibc_versions(binary)
    assert versions and max(versions) <= (2, 34)
    if shutil.which("objdump"):
        out = subprocess.run(["objdump", "-T", str(binary)], capture_output=True, text=True, check=True).stdout
        seen = {tuple(int(p) for p in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out)}
        assert max(seen) == max(versions)


def test_non_elf_is_refused(tmp_path):
    build = _build_module()
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho not really\n")
    with pytest.raises(build.LayerBuildError):
        build.glibc_versions(fake)
