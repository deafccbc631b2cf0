"""Every error the API promises: JSON {"detail": ...} in plain words, the right status, never a crash."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from model.labels import LANDSCAPES
from server_fakes import FakeEngine
from server_helpers import label_png, make_settings, png_bytes, rgb_image, wait_ready


def post_labels(client, labels: bytes, **data):
    return client.post("/synthesize", files={"labels": ("labels.png", labels, "image/png")},
                       data={k: str(v) for k, v in data.items()})


def assert_error(r, status: int, *words: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    detail = r.json()["detail"]
    assert isinstance(detail, str)
    for w in words:
        assert w in detail, detail
    return detail


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.fixture(scope="module")
def small_client():
    """A fake-engine app with a 64 KiB body limit and 512x512 image limit."""
    app = create_app(make_settings(max_body_bytes=64 * 1024, max_image_pixels=512 * 512),
                     engine_loader=lambda s: FakeEngine())
    with TestClient(app, raise_server_exceptions=False) as c:
        wait_ready(c)
        yield c


# ---- 413 ------------------------------------------------------------------------------------
def test_declared_content_length_over_the_limit_is_413(small_client):
    r = small_client.post("/synthesize", content=b"x" * (65 * 1024), headers={"content-type": "application/json"})
    assert_error(r, 413, "larger than the limit")


def test_streamed_body_without_content_length_is_cut_off_at_the_limit(small_client):
    def chunks():
        for _ in range(200):  # 200 x 4 KiB = 800 KiB, far over the 64 KiB limit
            yield b"y" * 4096

    r = small_client.post("/synthesize", content=chunks(),
                          headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert "content-length" not in r.request.headers
    assert_error(r, 413, "larger than the limit")


def test_the_limit_stops_reading_the_stream_early():
    """Drive the ASGI app directly with a chunked body: reading stops just past the limit."""
    app = create_app(make_settings(max_body_bytes=64 * 1024), engine_loader=lambda s: FakeEngine())
    reads, sent = [], []

    head = b'--xyz\r\nContent-Disposition: form-data; name="labels"; filename="a.png"\r\n\r\n'

    async def receive():  # one endless file part, 4 KiB at a time
        reads.append(1)
        return {"type": "http.request", "body": head if len(reads) == 1 else b"z" * 4096, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/synthesize", "raw_path": b"/synthesize", "root_path": "",
             "query_string": b"", "server": ("testserver", 80), "client": ("test", 1), "state": {},
             "headers": [(b"host", b"testserver"), (b"content-type", b"multipart/form-data; boundary=xyz"),
                         (b"transfer-encoding", b"chunked")]}
    with TestClient(app) as c:  # runs the lifespan: the model must be ready for the body to be read
        wait_ready(c)
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["detail"].startswith("request body is larger")
    assert len(reads) <= 64 * 1024 // 4096 + 2  # about 17 chunks, not the endless stream


def test_decompression_bomb_is_refused_from_its_header(small_client):
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 100000 x 100000 grey
    idat = zlib.compress(b"\x00" * 1000)
    bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    assert_error(post_labels(small_client, bomb), 413, "100000x100000")


def test_oversized_style_image_is_413(small_client):
    r = small_client.post("/synthesize", files={"labels": ("l.png", label_png(), "image/png"),
                                                "style": ("s.png", png_bytes(np.zeros((600, 600, 3), np.uint8)), "image/png")})
    assert_error(r, 413, "style")


# ---- 415 ------------------------------------------------------------------------------------
def test_format_is_judged_from_the_bytes_not_the_name(client):
    gif = b"GIF89a" + b"\x00" * 64
    assert_error(post_labels(client, gif), 415, "GIF")
    r = client.post("/synthesize", files={"labels": ("labels.png", b"hello there, not an image", "image/png")})
    assert_error(r, 415, "labels")


def test_jpeg_label_maps_are_415(client):
    assert_error(post_labels(client, rgb_image(fmt="JPEG")), 415, "PNG")


def test_other_content_types_are_415(client):
    r = client.post("/synthesize", content=b"labels=1", headers={"content-type": "text/plain"})
    assert_error(r, 415, "multipart/form-data")


# ---- 422 ------------------------------------------------------------------------------------
def test_truncated_png_is_422(client):
    data = label_png(128, 128)
    assert_error(post_labels(client, data[: len(data) // 2]), 422, "truncated or corrupt")


def test_out_of_range_ids_are_named(client):
    assert_error(post_labels(client, label_png(ids=(0, 40, 200))), 422, "40", "200")


def test_unknown_colours_are_named(client):
    ids = np.zeros((32, 32), np.uint8)
    rgb = LANDSCAPES.colorize(ids)
    rgb[:4, :4] = (1, 2, 3)
    assert_error(post_labels(client, png_bytes(rgb)), 422, "(1, 2, 3)", "not in the palette")


def test_bad_field_values_are_422_in_plain_words(client):
    assert_error(post_labels(client, label_png(), mix=2), 422, "mix")
    assert_error(post_labels(client, label_png(), format="bmp"), 422, "format")
    assert_error(post_labels(client, label_png(), seed=-1), 422, "seed")
    assert_error(post_labels(client, label_png(), seed="abc"), 422, "seed")
    assert_error(post_labels(client, label_png(), size=99999), 422, "size")
    assert_error(post_labels(client, label_png(), colour="red"), 422, "colour")


def test_missing_labels_is_422(client):
    assert_error(client.post("/synthesize", data={"seed": "1"}, files={"style": ("s.png", rgb_image(), "image/png")}),
                 422, "labels")
    assert_error(client.post("/synthesize", json={"seed": 1}), 422, "labels")


def test_bad_json_is_422(client):
    assert_error(client.post("/synthesize", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert_error(client.post("/synthesize", json={"labels": "%%% not base64"}), 422, "base64")
    assert_error(client.post("/synthesize", json={"labels": base64.b64encode(label_png()).decode(), "mix": "x"}),
                 422, "mix")


def test_unknown_style_preset_is_422(client):
    assert_error(post_labels(client, label_png(), style_preset="nope"), 422, "nope")


def test_style_and_preset_together_is_422(client):
    r = client.post("/synthesize", files={"labels": ("l.png", label_png(), "image/png"),
                                          "style": ("s.png", rgb_image(), "image/png")},
                    data={"style_preset": "anything"})
    assert_error(r, 422, "either")


def test_corrupt_style_image_is_422(client):
    data = rgb_image(fmt="JPEG")
    r = client.post("/synthesize", files={"labels": ("l.png", label_png(), "image/png"),
                                          "style": ("s.jpg", data[:200], "image/jpeg")})
    assert_error(r, 422, "style")


def test_scene_seed_out_of_range_is_422(client):
    assert_error(client.get("/api/scene", params={"seed": -5}), 422, "seed")


# ---- 404 / 405 / 500 ------------------------------------------------------------------------------
def test_unknown_path_is_a_json_404(client):
    assert_error(client.get("/no/such/thing"), 404)


def test_wrong_method_is_json(client):
    r = client.get("/synthesize")
    assert r.status_code == 405 and isinstance(r.json()["detail"], str)


def test_an_unexpected_exception_becomes_a_json_500():
    app = create_app(make_settings(), engine_loader=lambda s: FakeEngine())

    @app.get("/boom")
    def boom():
        raise KeyError("surprise")

    with TestClient(app, raise_server_exceptions=False) as c:
        assert_error(c.get("/boom"), 500, "KeyError")


def test_an_inference_failure_fails_only_that_request():
    engine = FakeEngine(delay=0.05, fail_if=lambda r: int(r["labels"][0, 0]) == 5)
    app = create_app(make_settings(max_batch=8, max_wait_ms=100), engine_loader=lambda s: engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        wait_ready(c)
        from concurrent.futures import ThreadPoolExecutor

        maps = [label_png(ids=(i,)) for i in (1, 5, 2, 3)]
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(lambda m: post_labels(c, m, seed=1), maps))
    codes = [r.status_code for r in responses]
    assert codes == [200, 500, 200, 200], codes
    assert_error(responses[1], 500, "synthesis failed")
