"""Browser tests: the real app (tiny model on CPU) served by uvicorn, driven through Debian's Chromium.

Chromium comes from apt (`apt-get install -y $(cat .ci/chromium-deps.txt)`), never from
`playwright install`; without it these tests fail, they do not skip.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from browser_helpers import SynthCapture, open_app

CHROMIUM = Path(os.environ.get("SPADE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
READY_TIMEOUT_S = 180       # model load + warm-up of the tiny model on a busy CPU


# ---- the server ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A tiny landscapes model folder with random weights: enough for the page, fast on CPU.

    SPADE_BROWSER_MODEL_DIR=weights/landscapes serves a trained model instead (for a README
    screenshot whose result looks like a landscape; see test_screenshot_after_painting).
    """
    if os.environ.get("SPADE_BROWSER_MODEL_DIR"):
        return Path(os.environ["SPADE_BROWSER_MODEL_DIR"]).resolve()
    from model.config import preset
    from model.io import build_networks, save_model
    from model.labels import LANDSCAPES

    torch.manual_seed(0)
    cfg = preset("landscapes", ngf=8, ndf=8, spade_hidden=16)
    g, e = build_networks(cfg)
    return save_model(tmp_path_factory.mktemp("models") / "tiny", cfg, g, e, LANDSCAPES)


@pytest.fixture(scope="session")
def server_url(model_dir: Path) -> str:
    """The real app on 127.0.0.1:<free port>, in a background thread, once the model is ready."""
    import uvicorn

    from app.main import create_app
    from app.settings import Settings

    app = create_app(Settings(model_dir=str(model_dir), device="cpu", precision="fp32"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-browser-tests", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    detail = "server did not start"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as r:
                if r.status == 200:
                    break
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            if '"failed"' in detail:
                pytest.fail(f"the model did not load: {detail}", pytrace=False)
        except OSError as e:
            detail = str(e)
        time.sleep(0.2)
    else:
        pytest.fail(f"server not ready after {READY_TIMEOUT_S} s: {detail}", pytrace=False)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


# ---- the browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}. The browser tests need Debian's Chromium: "
                    f"apt-get update && apt-get install -y $(cat .ci/chromium-deps.txt) "
                    f"(or set SPADE_CHROMIUM to its path). `playwright install` is not used.", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package `playwright` is missing: .venv/bin/pip install playwright", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def app(browser, server_url):
    """The page at 1280x800 with its starting scene synthesized once."""
    a = open_app(browser, server_url)
    yield a
    a.page.context.close()
    assert not a.errors, f"JavaScript errors on the page: {a.errors}"


@pytest.fixture
def synth_requests(app) -> SynthCapture:
    """Every /synthesize request the page sends from now on, as {field: bytes}."""
    return SynthCapture(app.page)
