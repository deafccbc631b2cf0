"""`spade serve` and Settings: options become SPADE_* settings, and uvicorn gets the app factory."""

from __future__ import annotations

import pytest
import uvicorn

from app.settings import Settings
from model.cli import main as spade

KEYS = ("MODEL_DIR", "HOST", "PORT", "DEVICE", "PRECISION", "MAX_QUEUE")


@pytest.fixture
def clean_env(monkeypatch):
    for key in KEYS:
        monkeypatch.delenv(f"SPADE_{key}", raising=False)  # restored after the test
    return monkeypatch


def test_settings_read_spade_environment_variables(clean_env):
    clean_env.setenv("SPADE_MAX_QUEUE", "3")
    clean_env.setenv("SPADE_MODEL_DIR", "/models/x")
    s = Settings(_env_file=None)
    assert s.max_queue == 3 and s.model_dir == "/models/x"
    assert Settings(_env_file=None, max_queue=5).max_queue == 5


def test_settings_defaults(clean_env):
    s = Settings(_env_file=None)
    assert s.model_dir == "weights/landscapes"
    assert s.max_body_bytes == 10 * 1024 * 1024 and s.max_image_pixels == 4096 * 4096


def test_settings_reject_nonsense(clean_env):
    with pytest.raises(ValueError):
        Settings(_env_file=None, max_queue=0)
    with pytest.raises(ValueError):
        Settings(_env_file=None, precision="fp8")


def test_serve_starts_uvicorn_with_the_factory_and_options(clean_env):
    calls = []
    clean_env.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    assert spade(["serve", "--model", "/tmp/m", "--host", "0.0.0.0", "--port", "9123", "--device", "cpu"]) == 0
    app, kw = calls[0]
    assert app == "app.main:create_app" and kw["factory"] is True
    assert kw["host"] == "0.0.0.0" and kw["port"] == 9123 and kw["reload"] is False
    s = Settings(_env_file=None)
    assert s.model_dir == "/tmp/m" and s.device == "cpu"


def test_serve_reports_bad_options_in_one_line(clean_env, capsys):
    clean_env.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("must not start"))
    assert spade(["serve", "--port", "99999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spade serve: error: port:") and err.count("\n") == 1
