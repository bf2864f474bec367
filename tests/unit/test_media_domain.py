"""Media rules without AWS: eligibility, sizes, types, probe parsing, ffmpeg arguments, MP4 boxes."""

from __future__ import annotations

import io

import pytest

from chalicelib.media import domain

PROBE_OK = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'in.mp4':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 241 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 1920x1080 [SAR 1:1 DAR 16:9], 25 fps
      Side data:
        displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 69 kb/s (default)
At least one output file must be specified
"""


@pytest.mark.parametrize(("count", "expected"), [(0, None), (1, "optimisable"), (2, "optimised"), (5, "optimised")])
def test_eligibility_comes_from_the_variant_count(count, expected):
    assert domain.eligibility(count) == expected
    assert domain.is_optimisable(count) is (expected == "optimisable")


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ((1920, 1080), (1280, 720)),
        ((3840, 2160), (1280, 720)),
        ((1280, 720), (1280, 720)),
        ((640, 360), (640, 360)),  # never upscaled
        ((1080, 1920), (720, 1280)),  # portrait
        ((1440, 1080), (960, 720)),  # 4:3
        ((641, 361), (640, 360)),  # odd → even
        ((2000, 2000), (720, 720)),
        ((1281, 100), (1280, 98)),
    ],
)
def test_target_size_fits_720p_never_upscales_and_is_even(src, dst):
    w, h = domain.target_size(*src)
    assert (w, h) == dst and w % 2 == 0 and h % 2 == 0


def test_parse_probe_reads_duration_size_rotation_and_streams():
    p = domain.parse_probe(PROBE_OK)
    assert p.duration_s == 62.5 and (p.width, p.height) == (1080, 1920) and p.rotation == 270
    assert p.video_codec == "h264" and p.has_audio


@pytest.mark.parametrize(
    "text",
    [
        "[in#0] moov atom not found\nError opening input file x.mp4.\n",
        "Input #0, mp3, from 'a.mp4':\n  Duration: 00:00:03.00, start: 0\n  Stream #0:0: Audio: mp3, 44100 Hz\n",
        "Input #0, png_pipe, from 'a.mp4':\n  Duration: N/A, bitrate: N/A\n  Stream #0:0: Video: png, rgb24(pc), 64x64, 25 fps\n",
    ],
)
def test_parse_probe_refuses_non_videos(text):
    with pytest.raises(domain.NotAVideo):
        domain.parse_probe(text)


def test_transcode_args_are_h264_aac_faststart_at_the_target_size():
    p = domain.parse_probe(PROBE_OK)
    args = domain.transcode_args("ffmpeg", "in.mp4", "out.mp4", p)
    joined = " ".join(args)
    assert "-c:v libx264" in joined and "-c:a aac" in joined and "-movflags +faststart" in joined
    assert "scale=720:1280" in joined and "-pix_fmt yuv420p" in joined and args[-1] == "out.mp4"


@pytest.mark.parametrize(
    ("filename", "ctype", "ok"),
    [
        ("essay.PDF", "application/pdf", True),
        ("photo.jpeg", "image/jpeg", True),
        ("photo.jpg", "IMAGE/JPEG", True),
        ("essay.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", True),
        ("essay.pdf", "image/png", False),
        ("run.exe", "application/x-msdownload", False),
        ("a/b.pdf", "application/pdf", False),
    ],
)
def test_extension_for(filename, ctype, ok):
    if ok:
        assert domain.extension_for(filename, ctype, domain.HOMEWORK_TYPES)
    else:
        with pytest.raises(domain.MediaRuleError):
            domain.extension_for(filename, ctype, domain.HOMEWORK_TYPES)


@pytest.mark.parametrize(
    ("ctype", "head", "ok"),
    [
        ("application/pdf", b"%PDF-1.7", True),
        ("application/pdf", b"hello", False),
        ("image/png", b"\x89PNG\r\n\x1a\n....", True),
        ("text/plain", "héllo".encode(), True),
        ("text/plain", b"\x00\x01binary", False),
        ("video/mp4", b"\x00\x00\x00\x18ftypisom", True),
        ("video/mp4", b"just text renamed .mp4", False),
        ("video/webm", b"\x1a\x45\xdf\xa3\x01", True),
    ],
)
def test_sniff(ctype, head, ok):
    assert domain.sniff_ok(ctype, head) is ok


def test_top_level_boxes():
    def box(name: bytes, payload: bytes = b"") -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + name + payload

    data = box(b"ftyp", b"isom") + box(b"moov", b"x" * 20) + box(b"mdat", b"y" * 100)
    assert domain.top_level_boxes(io.BytesIO(data)) == ["ftyp", "moov", "mdat"]


def test_customer_prefix_refuses_unsafe_ids():
    assert domain.customer_prefix("cust-a") == "customers/cust-a/"
    with pytest.raises(domain.MediaRuleError):
        domain.customer_prefix("../other")


# --- the container check before a worker starts -------------------------------------------------


def _reader(data: bytes):
    reads = []

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return data[offset : offset + length]

    read.reads = reads
    return read


def test_a_well_formed_mp4_passes_with_its_duration():
    from tests.media_support import fake_mp4, mp4_box, mvhd

    data = fake_mp4(duration_s=12.5, media_bytes=10_000)
    read = _reader(data)
    assert domain.check_mp4(read, len(data)) == 12.5
    assert len(read.reads) <= 4 and all(n <= 4096 for _, n in read.reads)  # small reads, whatever the size
    v1 = mp4_box(b"ftyp", b"isom") + mp4_box(b"moov", mvhd(7200, version=1)) + mp4_box(b"mdat", bytes(10))
    assert domain.check_mp4(_reader(v1), len(v1)) == 7200
    # moov at the end (no faststart), a 64-bit mdat size, and a fragmented file (moov, then moof)
    big = (1).to_bytes(4, "big") + b"mdat" + (16 + 50).to_bytes(8, "big") + bytes(50)
    tail = mp4_box(b"ftyp", b"isom") + big + mp4_box(b"moov", mvhd(3))
    assert domain.check_mp4(_reader(tail), len(tail)) == 3
    frag = mp4_box(b"ftyp", b"iso5") + mp4_box(b"moov", mvhd(0)) + mp4_box(b"moof", bytes(20)) + mp4_box(b"mdat", bytes(9))
    assert domain.check_mp4(_reader(frag), len(frag)) == 0


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100,  # ftyp at byte 4, then nothing: the cheap trick
        b"\x00\x00\x00\x18ftypmp42" + bytes(12) + (9999).to_bytes(4, "big") + b"mdat" + bytes(20),  # overruns
        b"\x00\x00\x00\x18ftypmp42" + bytes(12) + (16).to_bytes(4, "big") + b"mdat" + bytes(8),  # no moov
        b"\x00\x00\x00\x18ftypmp42" + bytes(12) + (16).to_bytes(4, "big") + b"moov" + bytes(8),  # no media data
        b"\x00\x00\x00\x18ftypmp42" + bytes(12) + (4).to_bytes(4, "big") + b"moov",  # size below its header
        b"\x00\x00\x00\x18ftypmp42" + bytes(12) + b"\x00\x00",  # stray bytes
        b"\x00\x00\x00\x18ftypmp42" + bytes(12) + (16).to_bytes(4, "big") + b"\x00\xffxx" + bytes(8),  # not a box name
        (16).to_bytes(4, "big") + b"free" + bytes(8),  # a lone free box
        b"",
    ],
)
def test_what_only_looks_like_an_mp4_is_refused(data):
    with pytest.raises(domain.NotAContainer):
        domain.check_mp4(_reader(data), len(data))


def test_many_boxes_are_walked_with_a_bound():
    from tests.media_support import mp4_box

    data = mp4_box(b"ftyp", b"isom") + mp4_box(b"free") * 10_000
    read = _reader(data)
    with pytest.raises(domain.NotAContainer):
        domain.check_mp4(read, len(data))
    assert len(read.reads) <= 64


def _ebml(doc: bytes = b"webm", segment_size: int = 100, total_extra: int = 100) -> tuple[bytes, int]:
    header_body = b"\x42\x82" + bytes([0x80 | len(doc)]) + doc
    head = b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header_body)]) + header_body
    seg = b"\x18\x53\x80\x67" + b"\x01" + segment_size.to_bytes(7, "big")
    data = head + seg + bytes(total_extra)
    return data, len(data)


def test_matroska_needs_a_header_and_a_segment_that_fits():
    data, size = _ebml()
    domain.check_matroska(data, size)
    data, size = _ebml(doc=b"matroska")
    domain.check_matroska(data, size)
    unknown = data[: -100 - 8] + b"\x01\xff\xff\xff\xff\xff\xff\xff" + bytes(100)  # "unknown size" (live streams)
    domain.check_matroska(unknown, len(unknown))
    for bad in (
        _ebml(doc=b"xxxx"),
        _ebml(segment_size=10_000),
        (b"\x1a\x45\xdf\xa3\x01", 5),
        (b"\x1a\x45\xdf\xa3\x84\x42\x82\x84webm" + bytes(20), 34),
        (b"not ebml at all", 15),
    ):
        with pytest.raises(domain.NotAContainer):
            domain.check_matroska(*bad)
