"""Startup: /healthz at once, /readyz only after load + warm-up, and never random weights."""

from __future__ import annotations

import logging
import shutil
import threading

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from server_fakes import FakeEngine
from server_helpers import label_png, make_settings, wait_ready


def post_labels(client, labels: bytes):
    return client.post("/synthesize", files={"labels": ("labels.png", labels, "image/png")})


def test_healthz_answers_while_readyz_waits_for_warmup():
    warm = threading.Event()
    app = create_app(make_settings(), engine_loader=lambda s: FakeEngine(warmup_gate=warm))
    with TestClient(app, raise_server_exceptions=False) as c:
        try:
            assert c.get("/healthz").status_code == 200
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["status"] == "loading"
            assert r.headers["retry-after"]
            busy = post_labels(c, label_png())
            assert busy.status_code == 503 and busy.headers["retry-after"]
            assert "not ready" in busy.json()["detail"]
            assert c.get("/api/model").status_code == 503
        finally:
            warm.set()
        wait_ready(c)
        assert post_labels(c, label_png()).status_code == 200


@pytest.fixture
def broken_dirs(model_dir, tmp_path):
    """Model folders that must not load: garbage weights, mis-shaped weights, no weights."""
    corrupt = tmp_path / "corrupt"
    shutil.copytree(model_dir, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00\x01 this is not a safetensors file" * 10)

    misshaped = tmp_path / "misshaped"
    shutil.copytree(model_dir, misshaped)
    cfg = (misshaped / "config.json").read_text().replace('"ngf": 8', '"ngf": 16')
    (misshaped / "config.json").write_text(cfg)

    empty = tmp_path / "empty"
    empty.mkdir()
    return {"corrupt": corrupt, "misshaped": misshaped, "empty": empty}


@pytest.mark.parametrize("kind", ["corrupt", "misshaped", "empty"])
def test_a_bad_model_folder_is_never_served(broken_dirs, kind, caplog):
    app = create_app(make_settings(broken_dirs[kind]))
    with caplog.at_level(logging.ERROR, logger="app"), TestClient(app, raise_server_exceptions=False) as c:
        for _ in range(600):
            r = c.get("/readyz")
            if r.json()["status"] != "loading":
                break
            threading.Event().wait(0.05)
        assert r.status_code == 503
        assert r.json()["status"] == "failed"
        assert str(broken_dirs[kind]) in r.json()["detail"]
        s = post_labels(c, label_png())
        assert s.status_code == 503 and s.headers["retry-after"]
        assert c.get("/healthz").status_code == 200
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and "model not served" in errors[0].getMessage()


class ClosableEngine(FakeEngine):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_shutdown_stops_the_engine_workers():
    engine = ClosableEngine()
    app = create_app(make_settings(), engine_loader=lambda s: engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        wait_ready(c)
        assert engine.closed == 0
    assert engine.closed == 1
    assert app.state.server.status == "stopped"


def test_shutdown_during_warmup_never_publishes_ready():
    warm = threading.Event()
    engine = ClosableEngine(warmup_gate=warm)
    app = create_app(make_settings(), engine_loader=lambda s: engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/readyz").json()["status"] == "loading"
        closer = threading.Thread(target=app.state.server.close)
        closer.start()
        closer.join()
        warm.set()  # warm-up ends after shutdown began: the model must stay unpublished
        for _ in range(200):
            if engine.closed:
                break
            threading.Event().wait(0.02)
        assert app.state.server.status == "stopped" and app.state.server.engine is None
        assert engine.closed == 1
