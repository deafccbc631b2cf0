"""Helpers shared by the server tests (images, settings, readiness)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
from PIL import Image

from app.settings import Settings


def make_settings(model_dir: Path | str = "weights/missing", **kw) -> Settings:
    base = dict(model_dir=str(model_dir), device="cpu", precision="fp32", fast=True, compile=False)
    return Settings(_env_file=None, **{**base, **kw})


def wait_ready(client, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        if r.status_code == 200:
            return
        if r.json().get("status") == "failed":
            raise AssertionError(f"model failed to load: {r.json()}")
        time.sleep(0.05)
    raise AssertionError("the app did not become ready in time")


# ---- image helpers ------------------------------------------------------------------------
def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, "PNG") if mode else Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def label_png(h: int = 64, w: int = 64, ids=(0, 3, 11), seed: int = 0) -> bytes:
    """A label map of horizontal bands with the given class ids (plus a little randomness)."""
    rng = np.random.default_rng(seed)
    bands = np.array_split(np.arange(h), len(ids))
    lab = np.zeros((h, w), np.uint8)
    for rows, i in zip(bands, ids):
        lab[rows] = i
    lab[rng.integers(0, h, 8), rng.integers(0, w, 8)] = ids[-1]
    return png_bytes(lab)


def rgb_image(h: int = 48, w: int = 48, seed: int = 0, fmt: str = "PNG") -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
