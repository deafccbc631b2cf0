"""A bounded queue and a dynamic batcher in front of the Engine.

Routes `await Batcher.submit(request)`; one worker thread takes the oldest waiting request,
gathers other waiting requests of the same label-map size (up to `max_batch`, waiting at most
`max_wait_ms` for them), and runs them as one `engine.synthesize_batch` call. Each caller gets
back exactly its own image. When the queue already holds `max_queue` requests, `submit` raises
`QueueFull` at once, which the route turns into 503 + Retry-After.

Failure isolation: if a batch call raises, its requests are retried one at a time, so a bad
request fails alone. A caller whose client has gone away while still queued is dropped before
any inference is spent on it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The queue holds max_queue requests already; try again later."""


class BatcherClosed(Exception):
    """The server is shutting down; the request was not run."""


class ClientGone(Exception):
    """The client disconnected while its request was queued; it was never run."""


@dataclass
class Result:
    image: np.ndarray        # (H, W, 3) uint8
    inference_ms: float      # wall time of the generator call that produced it
    batch_size: int          # how many requests shared that call


@dataclass(eq=False)
class _Item:
    request: dict[str, Any]
    key: tuple               # requests with equal keys may share a batch
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    taken: bool = False      # the worker has it: too late to drop it
    dropped: bool = False    # cancelled while queued
    enqueued: float = field(default_factory=time.perf_counter)


def _batch_key(request: dict[str, Any]) -> tuple:
    labels = request["labels"]
    return tuple(getattr(labels, "shape", ()))


class Batcher:
    def __init__(self, engine: Any, *, max_queue: int = 32, max_batch: int = 8, max_wait_ms: float = 10.0,
                 metrics: Any = None) -> None:
        if max_queue < 1 or max_batch < 1:
            raise ValueError("max_queue and max_batch must be at least 1")
        self.engine = engine
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.metrics = metrics
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> "Batcher":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="spade-batcher", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking requests, fail the queued ones, wait for the running batch to end."""
        with self._cond:
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for item in pending:
            self._resolve(item, error=BatcherClosed("the server is shutting down"))
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_gauge(0)

    @property
    def pending(self) -> int:
        return len(self._queue)

    # ---- the caller's side ----------------------------------------------------------------
    async def submit(self, request: dict[str, Any],
                     disconnected: Callable[[], Awaitable[bool]] | None = None,
                     poll_s: float = 0.1) -> Result:
        """Queue one synthesize request (Engine.synthesize kwargs) and wait for its image.

        Raises QueueFull at once when the queue is full, ClientGone when `disconnected()`
        turned true while the request was still queued, and whatever the engine raised for
        this request (ValueError for bad inputs).
        """
        loop = asyncio.get_running_loop()
        item = _Item(request, _batch_key(request), loop, loop.create_future())
        with self._cond:
            if self._closed:
                raise BatcherClosed("the server is shutting down")
            if len(self._queue) >= self.max_queue:
                if self.metrics is not None:
                    self.metrics.rejected.inc()
                raise QueueFull(f"the queue holds {self.max_queue} requests already")
            self._queue.append(item)
            self._set_gauge(len(self._queue))
            self._cond.notify_all()
        try:
            while True:
                done, _ = await asyncio.wait({item.future}, timeout=poll_s)
                if done:
                    return item.future.result()
                if disconnected is not None and await disconnected() and self._drop(item):
                    raise ClientGone("the client disconnected before its request ran")
        except asyncio.CancelledError:
            # Queued: never run. Already taken: its result or error is no longer anyone's, so the
            # future is cancelled now (settling it later would log "exception was never retrieved").
            self._drop(item)
            item.future.cancel()
            raise

    def _drop(self, item: _Item) -> bool:
        """Remove a queued item; False when the worker has already taken it."""
        with self._cond:
            if item.taken:
                return False
            item.dropped = True
            try:
                self._queue.remove(item)
            except ValueError:
                pass
            self._set_gauge(len(self._queue))
            return True

    # ---- the worker's side ----------------------------------------------------------------
    def _next_batch(self) -> list[_Item] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            first = self._queue.popleft()
            first.taken = True
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                for item in list(self._queue):
                    if item.key == first.key:
                        self._queue.remove(item)
                        item.taken = True
                        batch.append(item)
                        if len(batch) == self.max_batch:
                            break
                remaining = deadline - time.monotonic()
                if len(batch) == self.max_batch or remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining)
            self._set_gauge(len(self._queue))
            return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._run_batch(batch)
            except BaseException as e:  # never let the worker die with callers waiting
                log.exception("batch worker error")
                for item in batch:
                    self._resolve(item, error=e if isinstance(e, Exception) else RuntimeError(str(e)))

    def _run_batch(self, batch: list[_Item]) -> None:
        t0 = time.perf_counter()
        try:
            images = self.engine.synthesize_batch([item.request for item in batch])
            if len(images) != len(batch):
                raise RuntimeError(f"engine returned {len(images)} images for {len(batch)} requests")
        except Exception as e:
            if len(batch) == 1:
                self._observe(1, time.perf_counter() - t0)
                self._resolve(batch[0], error=e)
                return
            log.warning("batch of %d failed (%s: %s); retrying its requests one by one",
                        len(batch), type(e).__name__, e)
            for item in batch:
                self._run_batch([item])
            return
        elapsed = time.perf_counter() - t0
        self._observe(len(batch), elapsed)
        for item, image in zip(batch, images):
            self._resolve(item, value=Result(image, elapsed * 1000.0, len(batch)))

    # ---- helpers ------------------------------------------------------------------------
    @staticmethod
    def _resolve(item: _Item, value: Any = None, error: BaseException | None = None) -> None:
        def settle() -> None:
            if item.future.done():
                return
            if error is not None:
                item.future.set_exception(error)
            else:
                item.future.set_result(value)
        try:
            item.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the caller's event loop is gone; nobody is waiting
            pass

    def _observe(self, size: int, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.batch_size.observe(size)
            self.metrics.inference.observe(seconds)

    def _set_gauge(self, n: int) -> None:
        if self.metrics is not None:
            self.metrics.queue_length.set(n)
