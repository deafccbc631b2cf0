"""Synthesis from the page: what the requests carry, how often they go, styles, errors."""

from __future__ import annotations

import numpy as np
import pytest
from browser_helpers import json_response, png_array, png_bytes, shown_result

pytestmark = pytest.mark.browser

SYNTH = "**/synthesize"


def _is_synth(response) -> bool:
    return response.url.endswith("/synthesize") and response.request.method == "POST"


def test_a_stroke_sends_exactly_the_painted_ids_and_shows_the_result(app, synth_requests):
    page = app.page
    app.wait_idle()
    app.choose_class("mountain")
    app.set_brush(24)
    with page.expect_response(_is_synth) as resp_info:
        app.drag((30, 200), (128, 60), (230, 200))
    fields = synth_requests.last
    labels, mode = png_array(fields["labels"])
    assert mode == "L", "the label map goes up as a single-channel 8-bit PNG"
    assert labels.shape == (256, 256)
    assert (labels == app.ids()).all()
    assert labels[60, 128] == app.class_id("mountain")
    assert resp_info.value.status == 200
    app.wait_idle()
    assert page.locator("#sp-result").is_visible()
    assert page.evaluate("document.getElementById('sp-result').naturalWidth") == 256
    result, _ = png_array(shown_result(page))
    assert result.shape == (256, 256, 3) and result.std() > 0, "a non-empty picture"
    assert page.locator("#sp-result-caption").inner_text().strip() != ""


def test_rapid_strokes_keep_one_request_in_flight_and_the_last_one_wins(app, synth_requests):
    page = app.page
    app.wait_idle()
    # Slow every /synthesize response down by 400 ms, and count the concurrent ones, outside the app.
    page.evaluate("""() => {
        const original = window.fetch;
        window.__synth = { inFlight: 0, max: 0, count: 0 };
        window.fetch = async (url, opts) => {
            if (!String(url).endsWith('/synthesize')) return original(url, opts);
            const s = window.__synth;
            s.inFlight++; s.count++; s.max = Math.max(s.max, s.inFlight);
            try { const r = await original(url, opts); await new Promise((ok) => setTimeout(ok, 400)); return r; }
            finally { s.inFlight--; }
        };
    }""")
    app.choose_class("snow")
    app.set_brush(10)
    for i in range(6):
        app.drag((20 + 35 * i, 30), (20 + 35 * i, 220), steps=3)
        page.wait_for_timeout(60)
    page.wait_for_function("window.__synth.count > 0 && window.__synth.inFlight === 0 && !spadeApp.busy", timeout=30_000)
    synth = page.evaluate("window.__synth")
    assert synth["max"] == 1, "never more than one request in flight"
    assert synth["count"] < 6, "strokes made while a request is out collapse into one follow-up"
    last, _ = png_array(synth_requests.last["labels"])
    assert (last == app.ids()).all(), "the last request carries the newest drawing"


def test_style_preset_tile_sends_style_preset(app, synth_requests):
    page = app.page
    tiles = page.locator('.sp-style-tile[data-style^="preset:"]')
    presets = page.evaluate("fetch('/api/styles').then((r) => r.json())")
    assert tiles.count() == len(presets) >= 1
    name = presets[-1]["name"]
    app.wait_idle()
    with page.expect_response(_is_synth):
        page.locator(f'.sp-style-tile[data-style="preset:{name}"]').click()
    fields = synth_requests.last
    assert fields["style_preset"].decode() == name
    assert "style" not in fields
    assert page.locator(f'.sp-style-tile[data-style="preset:{name}"]').get_attribute("aria-pressed") == "true"
    app.wait_idle()
    assert page.locator(f'.sp-style-tile[data-style="preset:{name}"] img').evaluate("(i) => i.naturalWidth") > 0


def test_random_style_shows_a_fresh_seed_and_sends_it(app, synth_requests):
    page = app.page
    seed_input = page.locator("#sp-seed")
    old = seed_input.input_value()
    app.wait_idle()
    with page.expect_response(_is_synth) as resp_info:
        page.locator("#sp-random-style").click()
    new = seed_input.input_value()
    assert new.isdigit() and new != old
    fields = synth_requests.last
    assert fields["seed"].decode() == new
    assert "style_preset" not in fields and "style" not in fields
    assert resp_info.value.headers["x-seed"] == new


def test_a_typed_seed_reproduces_the_result(app, synth_requests):
    page = app.page
    app.set_live(False)
    bodies = []
    for _ in range(2):
        page.locator("#sp-seed").fill("4242")
        with page.expect_response(_is_synth) as resp_info:
            page.locator("#sp-synthesize").click()
        assert synth_requests.last["seed"] == b"4242"
        assert resp_info.value.status == 200
        app.wait_idle()
        bodies.append(shown_result(page))
    assert bodies[0] == bodies[1] and len(bodies[0]) > 0


def test_uploaded_style_image_is_sent_with_the_request(app, synth_requests, tmp_path):
    page = app.page
    photo = np.zeros((64, 96, 3), np.uint8)
    photo[:32] = (250, 150, 60)      # a sunset sky
    photo[32:] = (40, 60, 30)
    path = tmp_path / "sunset.png"
    path.write_bytes(png_bytes(photo))
    app.wait_idle()
    with page.expect_response(_is_synth):
        page.locator("#sp-style-file").set_input_files(str(path))
    fields = synth_requests.last
    assert fields["style"] == path.read_bytes()
    assert "style_preset" not in fields
    assert page.locator('.sp-style-tile[data-style="upload"]').get_attribute("aria-pressed") == "true"
    app.wait_idle()
    assert not page.locator("#sp-alert").is_visible()


def test_mix_slider_blends_toward_a_second_preset(app, synth_requests):
    page = app.page
    presets = page.evaluate("fetch('/api/styles').then((r) => r.json())")
    first, second = presets[0]["name"], presets[-1]["name"]
    app.set_live(False)
    page.locator(f'.sp-style-tile[data-style="preset:{first}"]').click()
    page.locator("#sp-mix-target").select_option(value=f"preset:{second}")
    page.locator("#sp-mix").fill("0.5")
    assert page.locator("#sp-mix-output").inner_text() == "50%"
    with page.expect_response(_is_synth) as resp_info:
        page.locator("#sp-synthesize").click()
    fields = synth_requests.last
    assert fields["style_preset"].decode() == first
    assert fields["mix_preset"].decode() == second
    assert float(fields["mix"]) == 0.5
    assert resp_info.value.status == 200


def test_mix_toward_random_sends_only_the_amount(app, synth_requests):
    page = app.page
    app.set_live(False)
    page.locator("#sp-mix").fill("0.25")
    with page.expect_response(_is_synth):
        page.locator("#sp-synthesize").click()
    fields = synth_requests.last
    assert float(fields["mix"]) == 0.25
    assert "mix_preset" not in fields and "mix_style" not in fields


def test_overlay_slider_shows_the_label_map_over_the_result(app):
    page = app.page
    overlay = page.locator("#sp-overlay")
    assert overlay.evaluate("(c) => getComputedStyle(c).opacity") == "0"
    page.locator("#sp-overlay-opacity").fill("0.6")
    assert overlay.evaluate("(c) => getComputedStyle(c).opacity") == "0.6"
    assert page.locator("#sp-overlay-output").inner_text() == "60%"


def test_server_error_is_shown_in_plain_words_and_the_page_recovers(app):
    page = app.page
    app.wait_idle()
    page.route(SYNTH, lambda route: route.fulfill(**json_response(422, "labels: class id 99 is not in the palette")))
    page.locator("#sp-synthesize").click()
    alert = page.locator("#sp-alert")
    alert.wait_for(state="visible")
    assert page.locator("#sp-alert").get_attribute("role") == "alert"
    assert "class id 99 is not in the palette" in alert.inner_text()
    assert "could not use this input" in alert.inner_text()
    page.unroute(SYNTH)
    app.wait_idle()
    results = app.stats()["results"]
    app.choose_class("sea")
    app.drag((10, 10), (60, 60))            # painting still works and synthesizes
    app.wait_results(results + 1)
    alert.wait_for(state="hidden")


def test_busy_server_503_is_explained(app):
    page = app.page
    app.wait_idle()
    page.route(SYNTH, lambda route: route.fulfill(**json_response(503, "the server is busy (queue full); retry shortly")))
    page.locator("#sp-synthesize").click()
    alert = page.locator("#sp-alert")
    alert.wait_for(state="visible")
    assert "busy" in alert.inner_text()
    page.locator("#sp-alert-dismiss").click()
    assert alert.is_hidden()


def test_lost_connection_is_explained(app):
    page = app.page
    app.wait_idle()
    page.route(SYNTH, lambda route: route.abort("connectionrefused"))
    page.locator("#sp-synthesize").click()
    alert = page.locator("#sp-alert")
    alert.wait_for(state="visible")
    assert "Cannot reach the server" in alert.inner_text()
