"""Helpers for the browser tests: the page seen in model pixels, and multipart / PNG decoding."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"     # screenshots; gitignored
VIEWPORT = {"width": 1280, "height": 800}
UI_TIMEOUT_MS = 30_000      # waits inside the page (synthesis on a shared CPU)


@dataclass
class App:
    """The loaded painting page plus helpers that speak in model pixels."""
    page: object
    url: str
    errors: list

    # ---- state from the page's test hook ----------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.page.evaluate("[spadeApp.height, spadeApp.width]"))

    def ids(self) -> np.ndarray:
        h, w = self.size
        return np.array(self.page.evaluate("spadeApp.ids()"), dtype=np.uint8).reshape(h, w)

    def class_id(self, name: str) -> int:
        return self.page.evaluate("(n) => spadeApp.labels.find((l) => l.name === n).id", name)

    def stats(self) -> dict:
        return self.page.evaluate("({...spadeApp.stats})")

    # ---- waiting --------------------------------------------------------------------------------
    def wait_idle(self) -> None:
        """No synthesis scheduled or in flight."""
        self.page.wait_for_function("!spadeApp.busy", timeout=UI_TIMEOUT_MS)

    def wait_results(self, n: int) -> None:
        self.page.wait_for_function("(n) => spadeApp.stats.results >= n && !spadeApp.busy", arg=n,
                                    timeout=UI_TIMEOUT_MS)

    # ---- input -------------------------------------------------------------------------------------
    def screen(self, x: float, y: float) -> tuple[float, float]:
        """Model pixel (x, y) -> the page coordinates of that pixel's centre."""
        box = self.page.locator("#sp-labels").bounding_box()
        h, w = self.size
        return box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h

    def drag(self, *points: tuple[float, float], steps: int = 8) -> None:
        self.page.locator("#sp-labels").scroll_into_view_if_needed()
        m = self.page.mouse
        m.move(*self.screen(*points[0]))
        m.down()
        for p in points[1:]:
            m.move(*self.screen(*p), steps=steps)
        m.up()

    def click_at(self, x: float, y: float) -> None:
        self.page.locator("#sp-labels").scroll_into_view_if_needed()
        self.page.mouse.click(*self.screen(x, y))

    def choose_class(self, name: str) -> None:
        self.page.locator(f'.sp-swatch[data-class-name="{name}"]').click()

    def choose_tool(self, tool: str) -> None:
        self.page.locator(f'.sp-tool[data-tool="{tool}"]').click()

    def set_brush(self, size: int) -> None:
        self.page.locator("#sp-brush-size-number").fill(str(size))

    def set_live(self, on: bool) -> None:
        box = self.page.locator("#sp-auto")
        if box.is_checked() != on:
            self.page.locator('label[for="sp-auto"]').click()


def open_app(browser, url: str, viewport: dict = VIEWPORT) -> App:
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    errors: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_function("window.spadeApp && window.spadeApp.ready === true")
    app = App(page, url, errors)
    app.wait_results(1)
    return app


# ---- helpers for request bodies and images ------------------------------------------------------
def multipart_fields(request) -> dict[str, bytes]:
    """An intercepted multipart/form-data request -> {field name: raw bytes}.

    Chromium reports the body of a multipart request that holds Blobs only to a route
    handler (page.route), not to page.on("request") / expect_request; see SynthCapture.
    """
    ctype = request.headers["content-type"]
    body = request.post_data_buffer
    assert body is not None, "no request body: capture the request through page.route"
    raw = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out[name] = part.get_payload(decode=True)
    return out


class SynthCapture:
    """Intercepts POST /synthesize with page.route, keeps each request's fields, lets it through."""

    def __init__(self, page):
        self.fields: list[dict[str, bytes]] = []
        page.route("**/synthesize", self._handle)

    def _handle(self, route) -> None:
        if route.request.method == "POST":
            self.fields.append(multipart_fields(route.request))
        route.continue_()

    @property
    def last(self) -> dict[str, bytes]:
        assert self.fields, "no /synthesize request was captured"
        return self.fields[-1]


def shown_result(page) -> bytes:
    """The bytes of the result image the page shows (its blob: URL, read inside the page)."""
    data = page.evaluate("""async () => {
        const r = await fetch(document.getElementById('sp-result').src);
        return Array.from(new Uint8Array(await r.arrayBuffer()));
    }""")
    return bytes(data)


def png_array(data: bytes) -> tuple[np.ndarray, str]:
    im = Image.open(io.BytesIO(data))
    return np.array(im), im.mode


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def json_response(status: int, detail: str) -> dict:
    return {"status": status, "content_type": "application/json", "body": json.dumps({"detail": detail})}
