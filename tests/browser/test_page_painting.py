"""Painting on the label map: tools, palette, undo/redo, shortcuts. The ids are read back
through the page's `window.spadeApp` hook."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.browser


def test_page_loads_grouped_palette_and_a_default_scene(app):
    page = app.page
    groups = page.locator(".sp-palette__heading").all_inner_texts()
    assert groups[:4] == ["Sky", "Terrain", "Plants", "Water"]
    assert page.locator(".sp-swatch").count() == 16
    assert page.locator('.sp-swatch[aria-pressed="true"]').count() == 1
    assert app.size == (256, 256)
    ids = app.ids()
    assert len(np.unique(ids)) >= 2, "the starting scene should not be a blank map"
    assert ids.max() < 16
    assert page.locator("#sp-result").is_visible()
    assert page.locator("#sp-model-name").inner_text() == "landscapes"


def test_choosing_a_class_highlights_only_that_swatch(app):
    app.choose_class("snow")
    pressed = app.page.locator('.sp-swatch[aria-pressed="true"]')
    assert pressed.count() == 1
    assert pressed.get_attribute("data-class-name") == "snow"
    assert app.page.evaluate("spadeApp.classId") == app.class_id("snow")


def test_brush_stroke_paints_the_class_only_along_the_stroke(app):
    before = app.ids()
    app.choose_class("snow")
    app.set_brush(9)
    app.drag((40, 128), (200, 128))
    after = app.ids()
    snow = app.class_id("snow")
    assert (after[128, 40:201] == snow).all()
    changed = after != before
    assert changed.any()
    assert (after[changed] == snow).all(), "a stroke writes exactly one class id, never a blend"
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 128 - 6 and ys.max() <= 128 + 6, "a 9 px brush stays within its radius of the line"
    assert xs.min() >= 40 - 6 and xs.max() <= 200 + 6


def test_rectangle_tool_fills_the_dragged_box(app):
    app.choose_class("sea")
    app.choose_tool("rect")
    before = app.ids()
    app.drag((50, 60), (120, 100))
    after = app.ids()
    sea = app.class_id("sea")
    assert (after[60:101, 50:121] == sea).all()
    outside = np.ones_like(after, bool)
    outside[60:101, 50:121] = False
    assert (after[outside] == before[outside]).all()


def test_line_tool_draws_a_straight_line(app):
    before = app.ids()
    app.choose_class("rock")
    app.choose_tool("line")
    app.set_brush(3)
    app.drag((20, 20), (120, 220), (220, 220))   # the pointer wanders; only the end point counts
    ids = app.ids()
    rock = app.class_id("rock")
    assert ids[20, 20] == rock and ids[120, 120] == rock and ids[220, 220] == rock   # [y, x]
    assert ids[220, 120] == before[220, 120], "the preview of the line does not leave a trail"


def test_flood_fill_then_undo_and_redo(app):
    sky, mountain, grass = app.class_id("sky"), app.class_id("mountain"), app.class_id("grass")
    app.choose_class("sky")
    app.page.locator("#sp-clear").click()
    app.choose_class("mountain")
    app.choose_tool("rect")
    app.drag((100, 100), (150, 150))
    app.choose_class("grass")
    app.choose_tool("fill")
    app.click_at(10, 10)
    ids = app.ids()
    assert (ids[100:151, 100:151] == mountain).all()
    assert (ids == grass).sum() == 256 * 256 - 51 * 51, "fill stops at the rectangle"
    app.page.locator("#sp-undo").click()
    assert (app.ids() == sky).sum() == 256 * 256 - 51 * 51
    app.page.locator("#sp-redo").click()
    assert (app.ids() == grass).sum() == 256 * 256 - 51 * 51


def test_eyedropper_picks_the_class_under_the_pointer(app):
    app.choose_class("flower")
    app.choose_tool("rect")
    app.drag((10, 10), (30, 30))
    app.choose_class("sky")
    app.choose_tool("eyedropper")
    app.click_at(20, 20)
    assert app.page.evaluate("spadeApp.classId") == app.class_id("flower")
    assert app.page.locator('.sp-swatch[aria-pressed="true"]').get_attribute("data-class-name") == "flower"
    assert app.page.evaluate("spadeApp.tool") == "rect", "after a pick the previous tool comes back"


def test_eraser_paints_the_chosen_background_class(app):
    app.choose_class("tree")
    app.page.locator("#sp-clear").click()
    app.page.locator("#sp-eraser-class").select_option(label="fog")
    app.choose_tool("eraser")
    app.set_brush(12)
    app.drag((60, 60), (180, 60))
    ids = app.ids()
    assert (ids[60, 60:181] == app.class_id("fog")).all()
    assert set(np.unique(ids)) == {app.class_id("tree"), app.class_id("fog")}


def test_keyboard_shortcuts_pick_tools_and_brush_size(app):
    page = app.page
    page.locator("#sp-labels").hover()
    for key, tool in [("f", "fill"), ("i", "eyedropper"), ("l", "line"), ("r", "rect"), ("e", "eraser"), ("b", "brush")]:
        page.keyboard.press(key)
        assert page.evaluate("spadeApp.tool") == tool
        assert page.locator(f'.sp-tool[data-tool="{tool}"]').get_attribute("aria-pressed") == "true"
    size = page.evaluate("spadeApp.brushSize")
    page.keyboard.press("]")
    assert page.evaluate("spadeApp.brushSize") > size
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert page.evaluate("spadeApp.brushSize") < size
    assert page.locator("#sp-brush-size").input_value() == str(page.evaluate("spadeApp.brushSize"))


def test_ctrl_z_undoes_and_ctrl_shift_z_and_ctrl_y_redo(app):
    page = app.page
    start = app.ids()
    app.choose_class("snow")
    app.set_brush(20)
    app.drag((30, 30), (90, 90))
    painted = app.ids()
    assert (painted != start).any()
    page.locator("#sp-labels").hover()
    page.keyboard.press("Control+z")
    assert (app.ids() == start).all()
    page.keyboard.press("Control+Shift+z")
    assert (app.ids() == painted).all()
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+y")
    assert (app.ids() == painted).all()


def test_undo_goes_back_at_least_50_steps(app):
    app.set_live(False)
    app.choose_class("sky")
    app.page.locator("#sp-clear").click()
    start = app.ids()
    depth = app.page.evaluate("spadeApp.historyDepth")
    app.choose_class("flower")
    app.set_brush(3)
    for i in range(55):
        app.click_at(8 + 20 * (i % 11), 8 + 20 * (i // 11))
    assert app.page.evaluate("spadeApp.historyDepth") == depth + 55
    app.page.locator("#sp-labels").hover()
    for _ in range(55):
        app.page.keyboard.press("Control+z")
    assert (app.ids() == start).all()
    assert app.page.evaluate("spadeApp.historyDepth") == depth
