"""What routes depend on: the server's state, settings, metrics, and the ready Engine / Batcher.

The model is loaded once (in the lifespan, on a background thread) into a `ServerState`;
routes receive it through the `Annotated[..., Depends()]` aliases at the bottom.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, HTTPException, Request

from app.batching import Batcher
from app.metrics import Metrics
from app.settings import Settings

log = logging.getLogger("app")


@dataclass
class StylePreset:
    name: str
    image: np.ndarray          # (H, W, 3) uint8, what the style encoder sees
    jpeg: bytes                # what /api/styles/{name} serves
    time_of_day: str | None = None
    season: str | None = None
    weather: str | None = None


EngineLoader = Callable[[Settings], Any]
StyleRenderer = Callable[[tuple[int, int]], dict[str, StylePreset]]


def load_engine(settings: Settings) -> Any:
    """The default loader: Engine.from_folder with the settings' device options."""
    from model.engine import Engine  # imported here so `import app` stays light

    return Engine.from_folder(settings.model_dir, device=settings.device, precision=settings.precision,
                              fast=settings.fast, compile=settings.compile, cpu_workers=settings.cpu_workers)


class ServerState:
    """loading -> ready | failed, then stopped. Only a ready state has an engine and a running batcher."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.status = "loading"
        self.reason = "the model is loading"
        self.engine: Any = None
        self.batcher: Batcher | None = None
        self.styles: dict[str, StylePreset] = {}
        self._closing = threading.Event()
        self._publish = threading.Lock()  # publishing "ready" and close() never interleave

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def load(self, load_engine: EngineLoader, render_styles: StyleRenderer | None = None) -> None:
        """Runs on a background thread: load -> style presets -> warm up -> ready. Never raises."""
        t0 = time.perf_counter()
        where = self.settings.model_dir
        try:
            engine = load_engine(self.settings)
        except Exception as e:  # noqa: BLE001 - any failure means: do not serve
            self._fail(f"could not load the model from {where}: {e}")
            return
        styles: dict[str, StylePreset] = {}
        if render_styles is not None and not self._closing.is_set():
            try:
                styles = render_styles(tuple(engine.output_size))
            except Exception as e:  # noqa: BLE001 - presets are a convenience, the model still serves
                log.warning("style presets unavailable: %s: %s", type(e).__name__, e)
        if self._closing.is_set():
            _close_engine(engine)
            return
        try:
            engine.warmup()
        except Exception as e:  # noqa: BLE001
            _close_engine(engine)
            self._fail(f"the model from {where} loaded but failed its warm-up run: {type(e).__name__}: {e}")
            return
        s = self.settings
        with self._publish:
            if self._closing.is_set():
                _close_engine(engine)
                return
            self.batcher = Batcher(engine, max_queue=s.max_queue, max_batch=s.max_batch,
                                   max_wait_ms=s.max_wait_ms, metrics=self.metrics).start()
            self.engine, self.styles = engine, styles
            self.status, self.reason = "ready", None
        log.info("model %s ready on %s (%s) in %.1f s; %d style presets", getattr(engine.cfg, "name", "?"),
                 getattr(engine, "device", "?"), getattr(engine, "dtype", "?"), time.perf_counter() - t0, len(styles))

    def _fail(self, reason: str) -> None:
        with self._publish:
            if not self._closing.is_set():  # "stopped" stays the last word
                self.status, self.reason = "failed", reason
        log.error("model not served: %s", reason)

    def close(self) -> None:
        with self._publish:
            self._closing.set()
            self.status, self.reason = "stopped", "the server is shutting down"
        if self.batcher is not None:
            self.batcher.close()
        if self.engine is not None:
            _close_engine(self.engine)


def _close_engine(engine: Any) -> None:
    """Stop an engine's worker threads, if it has any (test doubles may not)."""
    close = getattr(engine, "close", None)
    if callable(close):
        close()


# ---- errors the routes raise ---------------------------------------------------------------
def http_error(status: int, detail: str, retry_after: int | None = None) -> HTTPException:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return HTTPException(status_code=status, detail=detail, headers=headers)


def not_ready_error(state: ServerState) -> HTTPException:
    return http_error(503, f"the model is not ready: {state.reason}", retry_after=state.settings.retry_after_s)


# ---- dependencies ---------------------------------------------------------------------------
def get_state(request: Request) -> ServerState:
    return request.app.state.server


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def get_engine(state: Annotated[ServerState, Depends(get_state)]) -> Any:
    if not state.ready:
        raise not_ready_error(state)
    return state.engine


def get_batcher(state: Annotated[ServerState, Depends(get_state)]) -> Batcher:
    if not state.ready or state.batcher is None:
        raise not_ready_error(state)
    return state.batcher


StateDep = Annotated[ServerState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
EngineDep = Annotated[Any, Depends(get_engine)]
BatcherDep = Annotated[Batcher, Depends(get_batcher)]
