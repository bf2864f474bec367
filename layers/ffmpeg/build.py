"""Build the ffmpeg Lambda layer zip (``bin/ffmpeg``) from the pinned imageio-ffmpeg wheel on PyPI.

``python layers/ffmpeg/build.py`` (or ``make layer``): downloads the wheel with pip, hash-checked
(``requirements.txt`` here), extracts its static ffmpeg to ``build/layer/bin/ffmpeg``, checks that the
binary is x86-64 ELF and that the newest GLIBC symbol version it needs is at most 2.34 (Amazon Linux
2023, Lambda python3.12) by reading the ELF's version-needs table, smoke-tests it (H.264 and AAC
encoders present), zips it and prints its size against Lambda's limits.
"""

from __future__ import annotations

import argparse
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNZIPPED_LIMIT = 250 * 1024 * 1024  # function + all layers, unzipped
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # larger zips must go through S3
MB = 1024 * 1024
SHT_GNU_VERNEED = 0x6FFFFFFE


class LayerBuildError(RuntimeError):
    pass


def glibc_versions(path: Path) -> list[tuple[int, ...]]:
    """Every ``GLIBC_x.y[.z]`` version the ELF binary requires (from ``.gnu.version_r``)."""
    with path.open("rb") as f:
        ident = f.read(16)
        if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
            raise LayerBuildError(f"{path} is not a 64-bit little-endian ELF file")
        f.seek(0)
        header = f.read(64)
        machine = struct.unpack_from("<H", header, 18)[0]
        if machine != 62:
            raise LayerBuildError(f"{path} is not x86-64 (e_machine={machine})")
        (shoff,) = struct.unpack_from("<Q", header, 40)
        shentsize, shnum = struct.unpack_from("<HH", header, 58)
        f.seek(shoff)
        sections = [struct.unpack("<IIQQQQIIQQ", f.read(shentsize)[:64]) for _ in range(shnum)]
        versions: set[tuple[int, ...]] = set()
        for _name, sh_type, _flags, _addr, offset, size, link, _info, _align, _entsize in sections:
            if sh_type != SHT_GNU_VERNEED:
                continue
            strtab = sections[link]
            f.seek(offset)
            data = f.read(size)
            f.seek(strtab[4])
            strings = f.read(strtab[5])
            pos = 0
            while True:
                _ver, cnt, _file, aux, nxt = struct.unpack_from("<HHIII", data, pos)
                apos = pos + aux
                for _ in range(cnt):
                    _hash, _flags2, _other, name_off, anext = struct.unpack_from("<IHHII", data, apos)
                    name = strings[name_off : strings.index(b"\0", name_off)].decode()
                    if name.startswith("GLIBC_") and name[6:7].isdigit():
                        versions.add(tuple(int(p) for p in name[6:].split(".")))
                    apos += anext
                if not nxt:
                    break
                pos += nxt
    return sorted(versions)


def download_wheel(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
    cmd += ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.12", "--require-hashes"]
    cmd += ["-r", str(HERE / "requirements.txt"), "-d", str(dest)]
    subprocess.run(cmd, check=True)
    wheels = list(dest.glob("imageio_ffmpeg-*.whl"))
    if len(wheels) != 1:
        raise LayerBuildError(f"expected one imageio-ffmpeg wheel in {dest}, found {wheels}")
    return wheels[0]


def extract_ffmpeg(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if "/binaries/ffmpeg-linux-x86_64" in n]
        if len(names) != 1:
            raise LayerBuildError(f"no single linux ffmpeg binary in {wheel.name}: {names}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(names[0]) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, 1024 * 1024)
    dest.chmod(dest.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return dest


def smoke_test(binary: Path) -> str:
    """``ffmpeg -version`` runs here (Linux x86-64) and the encoders the worker uses exist."""
    version = subprocess.run([str(binary), "-hide_banner", "-version"], capture_output=True, text=True, check=True).stdout
    encoders = subprocess.run([str(binary), "-hide_banner", "-encoders"], capture_output=True, text=True, check=True).stdout
    for needed in ("libx264", " aac "):
        if needed not in encoders:
            raise LayerBuildError(f"the ffmpeg binary lacks the {needed.strip()} encoder")
    return version.splitlines()[0]


def zip_layer(layer_dir: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(layer_dir.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo.from_file(path, path.relative_to(layer_dir).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100755 if path.stat().st_mode & stat.S_IXUSR else 0o100644) << 16
                with path.open("rb") as src, zf.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
    return out


def build(out_dir: Path, max_glibc: tuple[int, ...], wheel: Path | None = None) -> dict[str, object]:
    layer_dir = out_dir / "layer"
    shutil.rmtree(layer_dir, ignore_errors=True)
    wheel = wheel or download_wheel(out_dir / "wheel")
    binary = extract_ffmpeg(wheel, layer_dir / "bin" / "ffmpeg")
    needed = glibc_versions(binary)
    highest = needed[-1] if needed else ()
    if highest > max_glibc:
        raise LayerBuildError(
            f"ffmpeg needs GLIBC_{'.'.join(map(str, highest))} > {'.'.join(map(str, max_glibc))} (Amazon Linux 2023)"
        )
    version = smoke_test(binary)
    zipped = zip_layer(layer_dir, out_dir / "ffmpeg-layer.zip")
    unzipped = sum(p.stat().st_size for p in layer_dir.rglob("*") if p.is_file())
    return {
        "wheel": wheel.name,
        "ffmpeg": version,
        "glibc_max": ".".join(map(str, highest)),
        "unzipped_bytes": unzipped,
        "zipped_bytes": zipped.stat().st_size,
        "zip": str(zipped),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "build")
    ap.add_argument("--max-glibc", default="2.34", help="highest GLIBC version the target OS provides")
    ap.add_argument("--wheel", type=Path, help="use this already-downloaded wheel instead of pip download")
    args = ap.parse_args(argv)
    try:
        info = build(args.out, tuple(int(p) for p in args.max_glibc.split(".")), args.wheel)
    except (LayerBuildError, subprocess.CalledProcessError) as exc:
        print(f"layer build failed: {exc}", file=sys.stderr)
        return 1
    unzipped, zipped = int(info["unzipped_bytes"]), int(info["zipped_bytes"])  # type: ignore[call-overload]
    print(f"wheel        {info['wheel']}")
    print(f"binary       {info['ffmpeg']}")
    print(f"GLIBC        needs <= {info['glibc_max']} (limit {args.max_glibc}): ok")
    print(
        f"unzipped     {unzipped / MB:.1f} MB of the 250 MB Lambda limit ({unzipped / UNZIPPED_LIMIT:.0%}), leaving "
        f"{(UNZIPPED_LIMIT - unzipped) / MB:.1f} MB for the function code"
    )
    via = "must be uploaded to S3 (FfmpegLayerBucket/FfmpegLayerKey)" if zipped > DIRECT_UPLOAD_LIMIT else "fits a direct upload"
    print(f"zipped       {zipped / MB:.1f} MB: {via}")
    print(f"wrote        {info['zip']}")
    if unzipped > UNZIPPED_LIMIT:
        print("the layer alone exceeds the 250 MB unzipped limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
