"""Fixtures for the server tests: a tiny real model folder, settings, apps and clients."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from model.config import preset
from model.io import build_networks, save_model
from model.labels import LANDSCAPES
from server_helpers import make_settings, wait_ready


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A tiny landscapes model (random weights), saved as a real model folder."""
    cfg = preset("landscapes", ngf=8, ndf=8, spade_hidden=16)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        generator, encoder = build_networks(cfg)
    return save_model(tmp_path_factory.mktemp("weights") / "tiny", cfg, generator, encoder, LANDSCAPES)


@pytest.fixture(scope="module")
def client(model_dir):
    """A ready app with the real Engine on the tiny model."""
    app = create_app(make_settings(model_dir))
    with TestClient(app, raise_server_exceptions=False) as c:
        wait_ready(c)
        yield c
