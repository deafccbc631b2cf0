"""Every endpoint's happy path, through `with TestClient(app)` and the real Engine on a tiny model."""

from __future__ import annotations

import base64

import numpy as np
from PIL import Image
import io

from model.labels import LANDSCAPES
from server_helpers import decode, label_png, png_bytes, rgb_image


def post_labels(client, labels: bytes, **data):
    return client.post("/synthesize", files={"labels": ("labels.png", labels, "image/png")},
                       data={k: str(v) for k, v in data.items()})


# ---- health ---------------------------------------------------------------------------------
def test_healthz_answers(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "detail": None}


def test_readyz_is_200_once_warmed_up(client):
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_metrics_are_prometheus_text(client):
    post_labels(client, label_png(), seed=1)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'spade_http_requests_total{method="POST",route="/synthesize",status="200"}' in text
    assert "spade_queue_length" in text
    assert "spade_batch_size_bucket" in text
    assert "spade_http_request_duration_seconds_bucket" in text


# ---- model, styles, scenes -------------------------------------------------------------------------
def test_model_info_lists_the_palette(client):
    info = client.get("/api/model").json()
    assert info["size"] == [256, 256]
    assert info["supports_style"] is True
    assert info["dontcare"] is None  # the landscapes preset has no don't-care class
    assert len(info["labels"]) == len(LANDSCAPES)
    assert info["labels"][0] == {"id": 0, "name": "sky", "color": [117, 170, 235], "group": "sky"}


def test_styles_list_and_images(client):
    styles = client.get("/api/styles").json()
    assert styles, "model.scenes should provide style presets"
    first = styles[0]
    assert set(first) == {"name", "url", "time_of_day", "season", "weather"}
    r = client.get(first["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).format == "JPEG"


def test_unknown_style_is_a_json_404(client):
    r = client.get("/api/styles/no-such-style")
    assert r.status_code == 404 and "no-such-style" in r.json()["detail"]


def test_scene_is_a_class_id_png_at_model_size(client):
    r = client.get("/api/scene", params={"seed": 7})
    assert r.status_code == 200 and r.headers["x-seed"] == "7"
    im = Image.open(io.BytesIO(r.content))
    assert im.format == "PNG" and im.mode == "L" and im.size == (256, 256)
    ids = np.asarray(im)
    assert ids.max() < len(LANDSCAPES)
    assert client.get("/api/scene", params={"seed": 7}).content == r.content


def test_scene_without_seed_reports_the_one_it_picked(client):
    r = client.get("/api/scene")
    assert r.status_code == 200
    seed = int(r.headers["x-seed"])
    assert client.get("/api/scene", params={"seed": seed}).content == r.content


# ---- docs -----------------------------------------------------------------------------------------
def test_docs_page_loads_nothing_from_the_internet(client):
    html = client.get("/docs").text
    assert "swagger-ui-bundle.js" in html
    assert "http://" not in html and "https://" not in html
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 1000


def test_docs_schema_is_openapi_30_for_the_bundled_swagger_ui(client):
    spec = client.get("/docs/openapi.json").json()
    assert spec["openapi"] == "3.0.3"
    assert "/synthesize" in spec["paths"]


def test_openapi_documents_both_synthesize_bodies(client):
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/synthesize"]["post"]["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "application/json"}
    assert content["multipart/form-data"]["schema"]["properties"]["labels"]["format"] == "binary"


# ---- synthesize -------------------------------------------------------------------------------------
def test_synthesize_returns_a_png_with_seed_and_timing(client):
    r = post_labels(client, label_png(), seed=42)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-seed"] == "42"
    assert float(r.headers["x-inference-time-ms"]) >= 0
    assert "X-Seed" in r.headers["access-control-expose-headers"]
    assert decode(r.content).shape == (256, 256, 3)


def test_same_seed_same_image_other_seed_other_image(client):
    a = post_labels(client, label_png(), seed=5).content
    b = post_labels(client, label_png(), seed=5).content
    c = post_labels(client, label_png(), seed=6).content
    assert a == b
    assert not np.array_equal(decode(a), decode(c))


def test_without_seed_the_server_picks_one_and_reports_it(client):
    r = post_labels(client, label_png())
    seed = int(r.headers["x-seed"])
    again = post_labels(client, label_png(), seed=seed)
    assert again.content == r.content


def test_formats_and_size(client):
    for fmt, pil in (("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")):
        r = post_labels(client, label_png(), seed=1, format=fmt, size=100)
        assert r.status_code == 200 and r.headers["content-type"] == f"image/{fmt}"
        im = Image.open(io.BytesIO(r.content))
        assert im.format == pil and im.size == (100, 100)


def test_palette_colour_label_map_is_accepted(client):
    ids = np.zeros((64, 64), np.uint8)
    ids[32:] = 11  # grass under sky
    colour = png_bytes(LANDSCAPES.colorize(ids))
    grey = png_bytes(ids)
    a = post_labels(client, colour, seed=3)
    b = post_labels(client, grey, seed=3)
    assert a.status_code == 200 and a.content == b.content


def test_sixteen_bit_label_map_is_accepted(client):
    ids = np.zeros((64, 64), np.uint16)
    ids[40:] = 13
    r = post_labels(client, png_bytes(ids))
    assert r.status_code == 200, r.text


def test_style_image_and_style_preset(client):
    r = client.post("/synthesize", files={"labels": ("l.png", label_png(), "image/png"),
                                          "style": ("s.jpg", rgb_image(fmt="JPEG"), "image/jpeg")},
                    data={"seed": "1"})
    assert r.status_code == 200, r.text
    name = client.get("/api/styles").json()[0]["name"]
    r2 = post_labels(client, label_png(), seed=1, style_preset=name)
    assert r2.status_code == 200, r2.text


def test_mix_toward_a_second_style_or_a_random_code(client):
    styles = [s["name"] for s in client.get("/api/styles").json()]
    plain = post_labels(client, label_png(), seed=9, style_preset=styles[0])
    mixed = post_labels(client, label_png(), seed=9, style_preset=styles[0], mix_preset=styles[-1], mix=0.5)
    toward_random = post_labels(client, label_png(), seed=9, style_preset=styles[0], mix=0.5)
    assert mixed.status_code == 200 and toward_random.status_code == 200
    assert mixed.content != plain.content or len(styles) == 1
    assert toward_random.content != plain.content


def test_json_body_with_base64_files(client):
    body = {"labels": base64.b64encode(label_png()).decode(), "seed": 42, "format": "png",
            "style": "data:image/png;base64," + base64.b64encode(rgb_image()).decode()}
    r = client.post("/synthesize", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["x-seed"] == "42"
    multipart = client.post("/synthesize", files={"labels": ("l.png", label_png(), "image/png"),
                                                  "style": ("s.png", rgb_image(), "image/png")}, data={"seed": "42"})
    assert multipart.content == r.content
