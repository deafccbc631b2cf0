"""Label maps in and out of the page: opening PNGs, downloading the map and the result."""

from __future__ import annotations

import io

import numpy as np
import pytest
from browser_helpers import png_array, png_bytes, shown_result
from PIL import Image

from model.labels import LANDSCAPES

pytestmark = pytest.mark.browser


def _stripes(h: int = 256, w: int = 256) -> np.ndarray:
    """(h, w) class ids: one horizontal band per class, every class present."""
    return (np.arange(h)[:, None] * len(LANDSCAPES) // h).repeat(w, 1).astype(np.uint8)


def _wait_opened(app, name: str) -> None:
    app.page.wait_for_function("(n) => document.getElementById('sp-status').textContent.includes('Opened ' + n)", arg=name)


def test_opening_a_greyscale_class_id_png_loads_those_ids(app, tmp_path):
    ids = _stripes()
    ids[:, :40] = 3   # a mountain on the left
    path = tmp_path / "map.png"
    path.write_bytes(png_bytes(ids))
    app.page.locator("#sp-label-file").set_input_files(str(path))
    _wait_opened(app, "map.png")
    assert (app.ids() == ids).all()


def test_opening_a_png_in_palette_colours_maps_colours_to_ids(app, tmp_path):
    ids = _stripes().T.copy()   # vertical bands this time
    path = tmp_path / "colours.png"
    path.write_bytes(png_bytes(LANDSCAPES.colorize(ids)))
    app.page.locator("#sp-label-file").set_input_files(str(path))
    _wait_opened(app, "colours.png")
    assert (app.ids() == ids).all()


def test_a_label_map_of_another_size_is_resized_nearest_neighbour(app, tmp_path):
    small = np.zeros((64, 64), np.uint8)
    small[32:] = LANDSCAPES.names.index("sea")
    path = tmp_path / "small.png"
    path.write_bytes(png_bytes(small))
    app.page.locator("#sp-label-file").set_input_files(str(path))
    _wait_opened(app, "small.png")
    ids = app.ids()
    assert set(np.unique(ids)) == {0, 13}
    assert (ids[:128] == 0).all() and (ids[128:] == 13).all()
    assert "resized from 64×64" in app.page.locator("#sp-status").inner_text()


def test_unknown_colours_are_refused_with_a_clear_message(app, tmp_path):
    before = app.ids()
    rgb = LANDSCAPES.colorize(_stripes())
    rgb[100:110, 100:110] = (1, 2, 3)            # not a palette colour
    path = tmp_path / "smudged.png"
    path.write_bytes(png_bytes(rgb))
    app.page.locator("#sp-label-file").set_input_files(str(path))
    alert = app.page.locator("#sp-alert")
    alert.wait_for(state="visible")
    text = alert.inner_text()
    assert "100 pixels" in text and "rgb(1, 2, 3)" in text and "palette" in text
    assert (app.ids() == before).all(), "a refused file leaves the map alone"


def test_ids_the_model_does_not_have_are_refused(app, tmp_path):
    ids = np.full((256, 256), 40, np.uint8)
    path = tmp_path / "too-many.png"
    path.write_bytes(png_bytes(ids))
    app.page.locator("#sp-label-file").set_input_files(str(path))
    alert = app.page.locator("#sp-alert")
    alert.wait_for(state="visible")
    assert "40" in alert.inner_text() and "0–15" in alert.inner_text()


def test_download_label_map_is_a_single_channel_png_of_the_ids(app, tmp_path):
    app.choose_class("river")
    app.drag((10, 128), (240, 128))
    with app.page.expect_download() as info:
        app.page.locator("#sp-download-labels").click()
    download = info.value
    assert download.suggested_filename == "label-map.png"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    array, mode = png_array(path.read_bytes())
    assert mode == "L"
    assert (array == app.ids()).all()


def test_download_result_saves_the_shown_image(app, tmp_path):
    app.wait_idle()
    with app.page.expect_download() as info:
        app.page.locator("#sp-download-result").click()
    download = info.value
    assert download.suggested_filename.startswith("spade-result-seed")
    assert download.suggested_filename.endswith(".png")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    data = path.read_bytes()
    assert data == shown_result(app.page)
    im = Image.open(io.BytesIO(data))
    assert im.size == (256, 256) and im.mode == "RGB"


def test_png_encoder_without_compression_writes_a_valid_png(app):
    """The 'stored' zlib path (browsers without CompressionStream) decodes to the same ids."""
    data = app.page.evaluate("""async () => {
        const { encodeGray8 } = await import('/static/js/png.js');
        const ids = Uint8Array.from(spadeApp.ids());
        const blob = await encodeGray8(ids, spadeApp.width, spadeApp.height, { compress: false });
        return Array.from(new Uint8Array(await blob.arrayBuffer()));
    }""")
    array, mode = png_array(bytes(data))
    assert mode == "L"
    assert (array == app.ids()).all()

