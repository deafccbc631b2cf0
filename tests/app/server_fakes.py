"""A fast stand-in for model.engine.Engine, for tests that need to control timing and failures."""

from __future__ import annotations

import threading
import time

import numpy as np

from model.config import preset
from model.labels import LANDSCAPES


class FakeEngine:
    """Same interface as Engine; the 'image' is the label map's palette colours plus seeded noise.

    `delay` sleeps per synthesize_batch call; `gate` (an Event) blocks calls until set;
    `fail_if(request)` returning True makes the request raise RuntimeError.
    """

    def __init__(self, size: tuple[int, int] = (64, 64), delay: float = 0.0, gate: threading.Event | None = None,
                 fail_if=None, warmup_gate: threading.Event | None = None, supports_style: bool = True):
        self.cfg = preset("landscapes", ngf=8, ndf=8, spade_hidden=16)
        self.palette = LANDSCAPES
        self.device, self.dtype = "cpu", "float32"
        self.supports_style = supports_style
        self.output_size = size
        self.delay, self.gate, self.fail_if, self.warmup_gate = delay, gate, fail_if, warmup_gate
        self.batches: list[int] = []        # size of every synthesize_batch call
        self.seen: list[dict] = []          # every request that reached "inference"
        self.lock = threading.Lock()
        self.entered = threading.Event()    # set once a synthesize_batch call has started

    def check_labels(self, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels)
        bad = np.unique(labels[(labels < 0) | (labels >= len(self.palette))])
        if bad.size:
            raise ValueError(f"label ids {bad[:8].tolist()} are not classes of this model (allowed: 0..15)")
        h, w = self.output_size
        rows = np.arange(h) * labels.shape[0] // h
        cols = np.arange(w) * labels.shape[1] // w
        return labels[rows][:, cols]

    def warmup(self) -> None:
        if self.warmup_gate is not None:
            self.warmup_gate.wait(30)

    def _one(self, r: dict) -> np.ndarray:
        if self.fail_if is not None and self.fail_if(r):
            raise RuntimeError("simulated inference failure")
        rgb = self.palette.colorize(r["labels"]).astype(np.int16)
        noise = np.random.default_rng(r.get("seed") or 0).integers(-20, 20, rgb.shape)
        return np.clip(rgb + noise, 0, 255).astype(np.uint8)

    def synthesize(self, labels, **kw) -> np.ndarray:
        return self.synthesize_batch([{"labels": labels, **kw}])[0]

    def synthesize_batch(self, requests: list[dict]) -> list[np.ndarray]:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.batches.append(len(requests))
            self.seen.extend(requests)
        return [self._one(r) for r in requests]
