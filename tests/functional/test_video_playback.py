"""Watching video proofs (issue 17): GET /admin/media/{id}/play and GET /customer/videos/{id}/play answer what
an HTML5 ``<video>`` plays (the 720p variant once it exists, else the original) as a short-lived presigned GET
that serves Range requests (206), with the poster; GET .../download is the original as an attachment."""

from __future__ import annotations

import pytest
import requests

from tests.media_support import fake_mp4, get, post, upload_file_to, upload_form

MP4 = fake_mp4(media_bytes=2000)


@pytest.fixture
def student(client, tokens):
    return post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]


def uploaded_video(client, tokens, student, complete=True):
    body = {"student_id": student, "filename": "proof.mp4", "content_type": "video/mp4", "size_bytes": len(MP4)}
    r = post(client, "/customer/videos", tokens.customer_a, body)
    assert r.status_code == 201, r.body
    video = r.json_body["video"]
    if complete:
        assert upload_form(r.json_body["upload"], MP4) in (200, 204)
        assert post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a).status_code == 202
    return video["id"]


def optimise(video_id, tmp_path, data: bytes):
    """What the worker records: a 720p MP4 and a poster beside the original (the pipeline is tested elsewhere)."""
    from chalicelib.media import store

    v = store.get_video(video_id)
    prefix = v.original_key.rsplit("/", 1)[0]
    clip, poster = tmp_path / "720p.mp4", tmp_path / "poster.jpg"
    clip.write_bytes(data)
    poster.write_bytes(b"\xff\xd8\xff" + bytes(50))
    upload_file_to(f"{prefix}/720p.mp4", clip, "video/mp4")
    upload_file_to(f"{prefix}/poster.jpg", poster, "image/jpeg")
    variant = store.variant("720p", f"{prefix}/720p.mp4", len(data), "video/mp4", width=1280, height=720)
    assert store.record_optimised(v.id, v.variants[0], variant, f"{prefix}/poster.jpg")


def ranged(url: str, first: int, last: int) -> requests.Response:
    return requests.get(url, headers={"Range": f"bytes={first}-{last}"}, timeout=30)


def test_plays_the_original_then_the_720p_variant_with_range_requests(client, tokens, student, aws, tmp_path):
    vid = uploaded_video(client, tokens, student)
    for path, token in ((f"/admin/media/{vid}/play", tokens.admin), (f"/customer/videos/{vid}/play", tokens.customer_a)):
        r = get(client, path, token)
        assert r.status_code == 200, r.body
        play = r.json_body
        assert play["variant"] == "original" and play["content_type"] == "video/mp4" and play["poster_url"] is None
        assert 0 < play["expires_in"] <= 300
        part = ranged(play["url"], 0, 99)
        assert part.status_code == 206 and part.content == MP4[:100]
        assert part.headers["Content-Range"] == f"bytes 0-99/{len(MP4)}"
        assert part.headers["Content-Type"] == "video/mp4" and part.headers["Content-Disposition"].startswith("inline")

    optimised = b"\x00\x00\x00\x18ftypmp42" + bytes(5000)
    optimise(vid, tmp_path, optimised)
    for path, token in ((f"/admin/media/{vid}/play", tokens.admin), (f"/customer/videos/{vid}/play", tokens.customer_a)):
        play = get(client, path, token).json_body
        assert play["variant"] == "720p" and play["content_type"] == "video/mp4"
        part = ranged(play["url"], 1000, 1999)
        assert part.status_code == 206 and part.content == optimised[1000:2000]
        assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(optimised)}"
        poster = requests.get(play["poster_url"], timeout=30)
        assert poster.status_code == 200 and poster.content.startswith(b"\xff\xd8\xff")


def test_download_is_the_original_as_an_attachment(client, tokens, student, aws, tmp_path):
    vid = uploaded_video(client, tokens, student)
    optimise(vid, tmp_path, b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    for path, token in ((f"/admin/media/{vid}/download", tokens.admin), (f"/customer/videos/{vid}/download", tokens.customer_a)):
        r = get(client, path, token)
        assert r.status_code == 200, r.body
        link = r.json_body
        assert link["disposition"] == "attachment" and link["filename"] == "proof.mp4" and link["expires_in"] <= 300
        whole = requests.get(link["url"], timeout=30)
        assert whole.status_code == 200 and whole.content == MP4  # the original, not the 720p variant
        assert whole.headers["Content-Disposition"] == 'attachment; filename="proof.mp4"'
        part = ranged(link["url"], 0, 9)
        assert part.status_code == 206 and part.content == MP4[:10]
        assert part.headers["Content-Disposition"] == 'attachment; filename="proof.mp4"'


def test_not_uploaded_unknown_and_someone_elses(client, tokens, student, aws):
    waiting = uploaded_video(client, tokens, student, complete=False)
    for path, token in (
        (f"/admin/media/{waiting}/play", tokens.admin),
        (f"/customer/videos/{waiting}/play", tokens.customer_a),
        (f"/admin/media/{waiting}/download", tokens.admin),
        (f"/customer/videos/{waiting}/download", tokens.customer_a),
    ):
        r = get(client, path, token)
        assert r.status_code == 409 and r.json_body["error"]["code"] == "video_not_uploaded", (path, r.body)
    vid = uploaded_video(client, tokens, student)
    for suffix in ("play", "download"):
        r = get(client, f"/customer/videos/{vid}/{suffix}", tokens.customer_b)
        assert r.status_code == 404 and r.json_body["error"]["code"] == "video_not_found"
        assert get(client, f"/admin/media/01JZZZZZZZZZZZZZZZZZZZZZZZ/{suffix}", tokens.admin).status_code == 404
        assert get(client, f"/admin/media/not-an-id!/{suffix}", tokens.admin).status_code == 404
        assert get(client, f"/admin/media/{vid}/{suffix}", tokens.customer_a).status_code == 403
        assert get(client, f"/customer/videos/{vid}/{suffix}", tokens.admin).status_code == 403
