"""How the page looks and reads: screenshots (saved as artefacts), narrow screens, labels, focus."""

from __future__ import annotations

import os
import shutil

import pytest
from browser_helpers import ARTIFACTS, ROOT, open_app

pytestmark = pytest.mark.browser

NARROW = {"width": 390, "height": 844}


def _paint_a_lake_and_trees(app) -> None:
    app.choose_class("water")
    app.choose_tool("rect")
    app.drag((70, 190), (190, 235))
    app.choose_class("tree")
    app.choose_tool("brush")
    app.set_brush(14)
    app.drag((20, 170), (60, 160), (100, 175))
    app.choose_class("clouds")
    app.set_brush(18)
    app.drag((150, 40), (200, 36), (235, 44))


def test_screenshot_after_painting(app):
    # a preset style: the picture people see first in the README
    app.page.locator('.sp-style-tile[data-style="preset:noon-summer-clear"]').click()
    _paint_a_lake_and_trees(app)
    app.wait_idle()
    app.page.mouse.move(0, 0)      # no brush outline in the picture
    app.page.wait_for_timeout(400)  # the busy badge fades out over 150 ms
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "page-1280x800.png"
    app.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("SPADE_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "screenshot.png")


def test_side_by_side_at_1280x800_without_page_scroll(app):
    page = app.page
    labels = page.locator("#sp-label-frame").bounding_box()
    result = page.locator(".sp-frame--result").bounding_box()
    assert abs(labels["y"] - result["y"]) < 1 and result["x"] > labels["x"] + labels["width"]
    assert labels["width"] >= 300, "the canvas is shown larger than the 256 px model size"
    for selector in ("#sp-synthesize", "#sp-download-result", "#sp-style-gallery", ".sp-palette"):
        box = page.locator(selector).bounding_box()
        assert box["y"] + min(box["height"], 40) <= 800, f"{selector} is visible without scrolling"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280


def test_narrow_screen_stacks_the_label_map_above_the_result(browser, server_url):
    app = open_app(browser, server_url, viewport=NARROW)
    try:
        page = app.page
        labels = page.locator("#sp-label-frame").bounding_box()
        result = page.locator(".sp-frame--result").bounding_box()
        assert result["y"] >= labels["y"] + labels["height"]
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"], "no sideways scrolling"
        app.choose_class("sand")
        app.set_brush(20)
        app.drag((40, 40), (200, 60))
        assert (app.ids()[50, 60:180] == app.class_id("sand")).all()
        ARTIFACTS.mkdir(exist_ok=True)
        app.wait_idle()
        page.screenshot(path=str(ARTIFACTS / "page-narrow-390.png"), full_page=True)
        assert not app.errors
    finally:
        app.page.context.close()


def test_every_control_has_a_label(app):
    unlabeled = app.page.evaluate("""() => [...document.querySelectorAll('button, input, select, canvas[tabindex]')]
        .filter((el) => {
            const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                || (el.labels && el.labels.length) || (el.tagName === 'BUTTON' && el.textContent.trim());
            return !named;
        })
        .map((el) => el.outerHTML.slice(0, 120))""")
    assert unlabeled == []


def test_keyboard_focus_is_visible_and_reaches_the_tools(app):
    page = app.page
    page.keyboard.press("Tab")                         # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "sp-skip"
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('sp-tool')"):
            break
    else:
        pytest.fail("Tab never reached the tool buttons")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.getAttribute('aria-pressed')") == "true"
