"""Media rules (pure: no boto3, no pynamodb, no Chalice): allowed types, declared-file checks, keys,
multipart plans, eligibility, probing, ffmpeg arguments and the container checks.

Eligibility is read from the data, never from a flag: a video whose only variant is the ``original``
is optimisable; one with more variants is optimised; one with none is still awaiting its upload.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import BinaryIO

from chalicelib.core.errors import DomainError, Invalid

ORIGINAL, OPTIMISED_720P, POSTER = "original", "720p", "poster"
AWAITING_UPLOAD, UPLOADED = "awaiting_upload", "uploaded"
REVIEWED = "reviewed"  # homework only: an admin wrote feedback on the submitted file
HOMEWORK_STATUSES = (AWAITING_UPLOAD, UPLOADED, REVIEWED)
SUBMITTED = (UPLOADED, REVIEWED)  # a homework whose verified file is kept (downloads, review, integrity)
OPTIMISABLE, OPTIMISED = "optimisable", "optimised"

# content type -> accepted filename extensions (first = the extension used in the key)
HOMEWORK_TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": ("pdf",),
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
    "image/heic": ("heic",),
    "image/heif": ("heif", "heic"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "text/plain": ("txt",),
}
VIDEO_TYPES: dict[str, tuple[str, ...]] = {
    "video/mp4": ("mp4", "m4v"),
    "video/quicktime": ("mov",),
    "video/webm": ("webm",),
    "video/x-matroska": ("mkv",),
    "video/matroska": ("mkv",),
}

MAX_LONG_SIDE, MAX_SHORT_SIDE = 1280, 720  # "720p max", landscape or portrait
VIDEO_MAX_BITRATE = 4_000_000  # bits/s, -maxrate: bounds the output size (and the /tmp it needs)
AUDIO_BITRATE = 128_000
SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_ETAG = re.compile(r"^[0-9a-f]{32}(-[0-9]{1,5})?$")  # MD5 hex, or MD5-of-parts "-N" for multipart objects


class MediaRuleError(Invalid):
    """A request breaks a media rule; ``field`` names the offending input (a 400 naming it in ``fields``)."""

    def __init__(self, message: str, field: str, code: str = "validation_error") -> None:
        super().__init__(message, code=code, details={"fields": {field: message}})
        self.field = field


class TooLarge(DomainError):
    """The declared file is bigger than a cap allows (413)."""

    status, code = 413, "payload_too_large"


# --- uploads -----------------------------------------------------------------------------------


def extension_for(filename: str, content_type: str, allowed: dict[str, tuple[str, ...]]) -> str:
    """The key's extension for a declared upload; refuses types outside ``allowed`` and mismatched names."""
    ct = content_type.strip().lower()
    if ct not in allowed:
        raise MediaRuleError(f"content_type must be one of {', '.join(sorted(allowed))}.", "content_type", "unsupported_type")
    if "/" in filename or "\\" in filename or any(ord(c) < 32 for c in filename):
        raise MediaRuleError("filename must be a plain file name (no path, no control characters).", "filename")
    ext = PurePosixPath(filename).suffix.lower().lstrip(".")
    if ext not in allowed[ct]:
        raise MediaRuleError(f"a {ct} file must be named *.{' or *.'.join(allowed[ct])}.", "filename", "extension_mismatch")
    return allowed[ct][0]


def check_declared(filename: str, content_type: str, size_bytes: int, allowed: dict[str, tuple[str, ...]], cap: int) -> str:
    """The key's extension for a declared upload of ``size_bytes`` (at most ``cap``), of a type in ``allowed``."""
    ext = extension_for(filename, content_type, allowed)
    if size_bytes > cap:
        raise TooLarge(
            f"The file is {size_bytes} bytes; uploads here accept at most {cap}.",
            code="file_too_large",
            details={"max_bytes": cap, "size_bytes": size_bytes, "fields": {"size_bytes": f"must be at most {cap}"}},
        )
    return ext


def check_customer(customer_id: str) -> None:
    """The signed-in customer's id can name a storage prefix (400 ``invalid_customer`` otherwise)."""
    try:
        customer_prefix(customer_id)
    except MediaRuleError as exc:
        raise Invalid(str(exc), code=exc.code) from exc


def customer_prefix(customer_id: str) -> str:
    if not SAFE_ID.match(customer_id):
        raise MediaRuleError("the signed-in customer id cannot name a storage prefix.", "sub", "invalid_customer")
    return f"customers/{customer_id}/"


def homework_prefix(customer_id: str, student_id: str, homework_id: str) -> str:
    return f"{customer_prefix(customer_id)}students/{student_id}/homework/{homework_id}/"


def homework_key(customer_id: str, student_id: str, homework_id: str, ext: str) -> str:
    """Where the customer's presigned POST writes: ``.../homework/<id>/upload.<ext>``.

    Rows created before submissions were copied have ``.../homework/<id>.<ext>`` here; both are read as-is.
    """
    return f"{homework_prefix(customer_id, student_id, homework_id)}upload.{ext}"


def homework_submitted_prefix(customer_id: str, student_id: str, homework_id: str) -> str:
    return f"{homework_prefix(customer_id, student_id, homework_id)}submitted-"


def homework_submitted_key(customer_id: str, student_id: str, homework_id: str, ext: str, etag: str) -> str:
    """The kept copy of a verified upload, named by its ETag: ``.../homework/<id>/submitted-<etag>.<ext>``.

    No presigned POST ever targets it, and a different content can only ever land under a different name.
    """
    tag = etag.strip('"').lower()
    if not _ETAG.match(tag):
        raise MediaRuleError(f"an S3 ETag cannot name a key: {etag!r}", "etag")
    return f"{homework_submitted_prefix(customer_id, student_id, homework_id)}{tag}.{ext}"


def key_extension(key: str) -> str:
    """``pdf`` for ``.../upload.pdf`` (and for an old row's ``.../<id>.pdf``)."""
    return PurePosixPath(key).suffix.lower().lstrip(".")


def video_prefix(customer_id: str, student_id: str, video_id: str) -> str:
    return f"{customer_prefix(customer_id)}students/{student_id}/videos/{video_id}/"


def sniff_ok(content_type: str, head: bytes) -> bool:
    """Do the file's first bytes look like the declared type? (A renamed text file does not.)"""
    ct = content_type.lower()
    box = head[4:12]
    if ct == "application/pdf":
        return head.startswith(b"%PDF-")
    if ct == "image/jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if ct == "image/png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if ct in ("image/heic", "image/heif"):
        return box[:4] == b"ftyp" and box[4:8] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif")
    if ct.endswith("wordprocessingml.document"):
        return head.startswith(b"PK\x03\x04")
    if ct == "text/plain":
        if b"\x00" in head:
            return False
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the sample is fine
            return exc.start >= len(head) - 3
        return True
    if ct in ("video/mp4", "video/quicktime"):
        return box[:4] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
    if ct in ("video/webm", "video/x-matroska", "video/matroska"):
        return head.startswith(b"\x1a\x45\xdf\xa3")
    return False


# --- multipart uploads -------------------------------------------------------------------------

MIB = 1024 * 1024
PART_MIN_BYTES = 8 * MIB  # S3 needs ≥ 5 MiB for every part but the last; 8 MiB keeps a phone's retry cheap
S3_MAX_PARTS = 10_000
PART_URL_BATCH = 100  # presigned part URLs issued per request


@dataclass(frozen=True)
class PartPlan:
    """How a file of ``size_bytes`` is cut: every part ``part_size`` bytes, the last one the rest."""

    size_bytes: int
    part_size: int
    part_count: int

    def part_bytes(self, number: int) -> int:
        if not 1 <= number <= self.part_count:
            raise MediaRuleError(f"part numbers run from 1 to {self.part_count}", "part_numbers")
        if number < self.part_count:
            return self.part_size
        return self.size_bytes - self.part_size * (self.part_count - 1)


def part_plan(size_bytes: int) -> PartPlan:
    """Whole MiB parts of at least :data:`PART_MIN_BYTES`, never more than S3's 10,000 parts."""
    if size_bytes < 1:
        raise MediaRuleError("a multipart upload needs at least one byte", "size_bytes")
    per_part = max(PART_MIN_BYTES, -(-size_bytes // S3_MAX_PARTS))
    part_size = -(-per_part // MIB) * MIB
    return PartPlan(size_bytes, part_size, -(-size_bytes // part_size))


def check_parts(plan: PartPlan, uploaded: dict[int, int]) -> tuple[list[int], list[int]]:
    """``(missing, wrong_size)`` part numbers, given ``{part_number: size}`` of what S3 holds."""
    missing = [n for n in range(1, plan.part_count + 1) if n not in uploaded]
    wrong = sorted(n for n, size in uploaded.items() if not 1 <= n <= plan.part_count or size != plan.part_bytes(n))
    return missing, wrong


# --- eligibility -------------------------------------------------------------------------------


def eligibility(variant_count: int) -> str | None:
    """``optimisable`` (original only), ``optimised`` (more), or None (nothing uploaded yet)."""
    if variant_count == 1:
        return OPTIMISABLE
    if variant_count > 1:
        return OPTIMISED
    return None


def is_optimisable(variant_count: int) -> bool:
    return eligibility(variant_count) == OPTIMISABLE


# --- probing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    duration_s: float
    width: int  # as displayed (rotation applied)
    height: int
    video_codec: str
    has_audio: bool
    rotation: int = 0
    streams: list[str] = field(default_factory=list)


class NotAVideo(ValueError):
    """The file is corrupt, not a video, or has no usable video stream."""


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: (Video|Audio|Subtitle|Data|Attachment): (.*)$", re.M)
_SIZE = re.compile(r"(?:^|[ ,])(\d{2,5})x(\d{2,5})(?=[ ,\[]|$)")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees|rotate\s*:\s*(-?\d+)")
_IMAGE_CODECS = {"png", "mjpeg_still", "bmp", "gif", "webp", "tiff", "jpegls", "apng"}


def parse_probe(stderr: str) -> Probe:
    """Parse ``ffmpeg -i FILE`` output (no ffprobe in the wheel) into duration, size and streams."""
    inputs = stderr.split("Input #0", 1)
    if len(inputs) < 2:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        raise NotAVideo(f"ffmpeg cannot read the file: {tail or 'no input recognised'}")
    text = inputs[1].split("\nOutput #", 1)[0]
    streams = [(kind, desc) for kind, desc in _STREAM.findall(text)]
    videos = [desc for kind, desc in streams if kind == "Video" and "attached pic" not in desc]
    if not videos:
        raise NotAVideo("the file has no video stream")
    desc = videos[0]
    codec = desc.split(None, 1)[0].strip(",")
    size = _SIZE.search(desc)
    if size is None:
        raise NotAVideo(f"the video stream has no frame size ({desc[:120]})")
    width, height = int(size.group(1)), int(size.group(2))
    m = _DURATION.search(text)
    duration = 3600 * int(m.group(1)) + 60 * int(m.group(2)) + float(m.group(3)) if m else 0.0
    if duration <= 0 or codec in _IMAGE_CODECS:
        raise NotAVideo(f"the file is a still image or has no duration (codec {codec})")
    rot = _ROTATION.search(text)
    rotation = round(float(rot.group(1) or rot.group(2))) % 360 if rot else 0
    if rotation in (90, 270):
        width, height = height, width
    return Probe(
        duration_s=round(duration, 3),
        width=width,
        height=height,
        video_codec=codec,
        has_audio=any(kind == "Audio" for kind, _ in streams),
        rotation=rotation,
        streams=[f"{k}: {d[:80]}" for k, d in streams],
    )


# --- transcoding -------------------------------------------------------------------------------


def _even_down(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def target_size(width: int, height: int) -> tuple[int, int]:
    """Fit inside 1280x720 (or 720x1280 portrait), keep aspect, never upscale, even dimensions."""
    long_max, short_max = (MAX_LONG_SIDE, MAX_SHORT_SIDE)
    box_w, box_h = (long_max, short_max) if width >= height else (short_max, long_max)
    scale = min(1.0, box_w / width, box_h / height)
    return _even_down(width * scale), _even_down(height * scale)


def expected_output_bytes(duration_s: float) -> int:
    """Upper bound of the 720p file's size (capped bitrate) plus the poster and container overhead."""
    return int(duration_s * (VIDEO_MAX_BITRATE + AUDIO_BITRATE) / 8 * 1.1) + 4 * 1024 * 1024


def transcode_args(ffmpeg: str, src: str, dst: str, probe: Probe, preset: str = "veryfast") -> list[str]:
    """ffmpeg arguments for the 720p H.264/AAC MP4 with the moov atom first (+faststart)."""
    w, h = target_size(probe.width, probe.height)
    args = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", "-y", "-i", src]
    args += ["-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn", "-map_metadata", "-1"]
    args += ["-vf", f"scale={w}:{h}:flags=bicubic,setsar=1", "-pix_fmt", "yuv420p"]
    args += ["-c:v", "libx264", "-preset", preset, "-crf", "23", "-profile:v", "high"]
    args += ["-maxrate", str(VIDEO_MAX_BITRATE), "-bufsize", str(2 * VIDEO_MAX_BITRATE)]
    args += ["-c:a", "aac", "-b:a", str(AUDIO_BITRATE), "-ac", "2"]
    args += ["-movflags", "+faststart", "-f", "mp4", dst]
    return args


def poster_args(ffmpeg: str, src: str, dst: str, duration_s: float) -> list[str]:
    """A JPEG of one frame, a second in (or mid-clip for very short ones)."""
    at = min(1.0, duration_s / 2)
    args = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", "-y", "-ss", f"{at:.3f}", "-i", src]
    return [*args, "-frames:v", "1", "-update", "1", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", dst]


def probe_args(ffmpeg: str, src: str) -> list[str]:
    return [ffmpeg, "-hide_banner", "-nostdin", "-i", src]


def top_level_boxes(f: BinaryIO) -> list[str]:
    """Names of an MP4's top-level boxes in file order (to check ``moov`` comes before ``mdat``)."""
    out: list[str] = []
    f.seek(0, 2)
    end = f.tell()
    pos = 0
    while pos + 8 <= end:
        f.seek(pos)
        header = f.read(16)
        size, name = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(header[8:16], "big")
        elif size == 0:
            size = end - pos
        out.append(name)
        if size < 8:
            break
        pos += size
    return out


# --- the container check before a worker is started ------------------------------------------------


class NotAContainer(ValueError):
    """The upload's structure is not a playable MP4/MOV or Matroska/WebM file."""


MP4_PARENTS_WITH_MEDIA = (b"mdat", b"moof")
_MAX_TOP_LEVEL_BOXES = 64


def _mvhd_duration_s(moov_payload: bytes) -> float | None:
    """The movie header's duration (``mvhd`` inside ``moov``), if it is in the first bytes read."""
    pos = 0
    while pos + 8 <= len(moov_payload):
        size, name = int.from_bytes(moov_payload[pos : pos + 4], "big"), moov_payload[pos + 4 : pos + 8]
        if name == b"mvhd":
            body = moov_payload[pos + 8 :]
            if body[:1] == b"\x01" and len(body) >= 32:
                timescale, duration = int.from_bytes(body[20:24], "big"), int.from_bytes(body[24:32], "big")
            elif len(body) >= 20:
                timescale, duration = int.from_bytes(body[12:16], "big"), int.from_bytes(body[16:20], "big")
            else:
                return None
            return duration / timescale if timescale else None
        if size < 8:
            return None
        pos += size
    return None


def check_mp4(read: Callable[[int, int], bytes], size: int) -> float | None:
    """Walk an MP4/MOV's top-level boxes with small ranged reads (``read(offset, length)``): each box must
    fit the file, a ``moov`` and media data (``mdat``/``moof``) must exist. Returns the ``mvhd`` duration
    (seconds) when found. Raises :class:`NotAContainer`. A few reads of 16 bytes, whatever the file's size."""
    seen: list[bytes] = []
    duration: float | None = None
    pos = 0
    while pos < size and len(seen) < _MAX_TOP_LEVEL_BOXES:
        if pos + 8 > size:
            raise NotAContainer(f"{size - pos} stray bytes after the last box")
        header = read(pos, 16)
        box_size, name = int.from_bytes(header[:4], "big"), header[4:8]
        header_len = 8
        if box_size == 1:
            box_size, header_len = int.from_bytes(header[8:16], "big"), 16
        elif box_size == 0:
            box_size = size - pos
        if not (len(name) == 4 and all(32 <= c < 127 for c in name)):
            raise NotAContainer(f"no MP4 box at byte {pos}")
        if box_size < header_len or pos + box_size > size:
            raise NotAContainer(f"the {name.decode('latin-1')!r} box at byte {pos} does not fit in the file")
        seen.append(name)
        if name == b"moov":
            duration = _mvhd_duration_s(read(pos + header_len, min(box_size - header_len, 4096)))
        if b"moov" in seen and any(m in seen for m in MP4_PARENTS_WITH_MEDIA):
            break
        pos += box_size
    if b"moov" not in seen:
        raise NotAContainer("it has no movie header (moov box)")
    if not any(m in seen for m in MP4_PARENTS_WITH_MEDIA):
        raise NotAContainer("it has no media data (mdat box)")
    return duration


def _ebml_vint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, length) of the EBML variable-length integer at ``pos``."""
    if pos >= len(data) or data[pos] == 0:
        raise NotAContainer("malformed EBML")
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        raise NotAContainer("truncated EBML")
    value = first & (0xFF >> length)
    for b in data[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, length


def check_matroska(head: bytes, size: int) -> None:
    """An EBML header (``webm``/``matroska`` doc type) followed by a Segment that fits the file."""
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        raise NotAContainer("no EBML header")
    header_size, n = _ebml_vint(head, 4)
    body_start = 4 + n
    header = head[body_start : body_start + header_size]
    if b"webm" not in header and b"matroska" not in header:
        raise NotAContainer("the EBML doc type is neither webm nor matroska")
    seg = body_start + header_size
    if head[seg : seg + 4] != b"\x18\x53\x80\x67":
        raise NotAContainer("no Segment after the EBML header")
    seg_size, n = _ebml_vint(head, seg + 4)
    if seg_size < 16 or (seg_size != (1 << (7 * n)) - 1 and seg + 4 + n + seg_size > size):  # all ones: unknown size
        raise NotAContainer("the Segment does not fit in the file")


def max_video_seconds_message(duration_s: float, max_s: int) -> str:
    return (
        f"The video is {duration_s:.0f} s long; videos of at most {max_s} s ({max_s // 60} min) can be "
        "optimised within the worker's time. Upload a shorter video."
    )


# --- homework review -----------------------------------------------------------------------------

MAX_REVIEWS = 20  # the history a homework keeps (oldest dropped first): bounded item size
MAX_FEEDBACK_CHARS = 4000
# The admin list's default order: what awaits review first, then what was reviewed, then what awaits its file.
# Each phase is one index query (newest first); the cursor names the phase and the key inside it.
REVIEW_ORDER = (UPLOADED, REVIEWED, AWAITING_UPLOAD)


def appended_reviews[T](history: list[T], review: T, keep: int = MAX_REVIEWS) -> list[T]:
    """``history`` + ``review``, keeping the newest ``keep`` (re-review appends; the history stays bounded)."""
    return [*history, review][-keep:]


# --- inline or attachment ------------------------------------------------------------------------

INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})  # what every browser renders itself


def disposition(content_type: str, filename: str, *, inline: bool | None = None) -> str:
    """A Content-Disposition for a download: ``inline`` for PDF and browser images, else ``attachment``.

    The filename is reduced to printable characters without quotes or backslashes (a header value)."""
    if inline is None:
        inline = content_type.lower() in INLINE_TYPES
    safe = "".join(c for c in filename if c.isprintable() and c not in '"\\')
    return f'{"inline" if inline else "attachment"}; filename="{safe}"'


# --- ULID bounds of a date range (the ids are ULIDs: their first 10 characters are the time) ------

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_time_prefix(ms: int) -> str:
    """The 10-character time part of every ULID minted at ``ms`` milliseconds since the epoch."""
    if not 0 <= ms < 2**48:
        raise ValueError("time out of the ULID range")
    out = []
    for _ in range(10):
        out.append(_CROCKFORD[ms & 31])
        ms >>= 5
    return "".join(reversed(out))


def ulid_bounds(start_ms: int | None, end_ms: int | None) -> tuple[str, str] | None:
    """``(lowest, highest)`` ids minted in ``[start_ms, end_ms)`` (either open): a key-range condition.

    None when no ULID can be in the range (it ends before 1970, or starts after the ULID era)."""
    start = max(start_ms or 0, 0)
    end = min(end_ms, 2**48) if end_ms is not None else 2**48
    if start >= end:
        return None
    return ulid_time_prefix(start) + "0" * 16, ulid_time_prefix(end - 1) + "Z" * 16
