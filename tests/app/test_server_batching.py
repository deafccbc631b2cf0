"""The dynamic batcher on its own, with a fake engine: grouping, isolation, back-pressure."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from app.batching import Batcher, ClientGone, QueueFull
from server_fakes import FakeEngine


def request(i: int, size: int = 64) -> dict:
    labels = np.full((size, size), i % 16, np.int64)
    return {"labels": labels, "seed": i}


async def submit_all(batcher: Batcher, requests: list[dict]) -> list:
    return await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)


def test_concurrent_same_size_requests_share_one_generator_call():
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    batcher = Batcher(engine, max_queue=16, max_batch=8, max_wait_ms=50).start()

    async def scenario():
        tasks = [asyncio.ensure_future(batcher.submit(request(i))) for i in range(6)]
        await asyncio.sleep(0.05)
        gate.set()  # the first call may hold one request; the rest pile up behind it
        return await asyncio.gather(*tasks)

    try:
        results = asyncio.run(scenario())
    finally:
        batcher.close()
    assert len(results) == 6
    assert max(engine.batches) > 1
    assert sum(engine.batches) == 6


def test_each_caller_gets_its_own_image():
    engine = FakeEngine()
    batcher = Batcher(engine, max_queue=16, max_batch=4, max_wait_ms=50).start()
    reqs = [request(i) for i in range(8)]
    try:
        results = asyncio.run(submit_all(batcher, reqs))
    finally:
        batcher.close()
    for r, res in zip(reqs, results):
        np.testing.assert_array_equal(res.image, engine._one(r))


def test_batches_never_exceed_max_batch():
    engine = FakeEngine(delay=0.02)
    batcher = Batcher(engine, max_queue=32, max_batch=3, max_wait_ms=20).start()
    try:
        asyncio.run(submit_all(batcher, [request(i) for i in range(10)]))
    finally:
        batcher.close()
    assert max(engine.batches) <= 3 and sum(engine.batches) == 10


def test_different_sizes_are_not_batched_together():
    engine = FakeEngine(delay=0.02)
    batcher = Batcher(engine, max_queue=32, max_batch=8, max_wait_ms=30).start()
    reqs = [request(i, size=32 if i % 2 else 48) for i in range(6)]
    try:
        results = asyncio.run(submit_all(batcher, reqs))
    finally:
        batcher.close()
    for r, res in zip(reqs, results):
        assert res.image.shape[:2] == r["labels"].shape
    shapes_per_call = []
    i = 0
    for n in engine.batches:
        shapes_per_call.append({engine.seen[j]["labels"].shape for j in range(i, i + n)})
        i += n
    assert all(len(s) == 1 for s in shapes_per_call)


def test_a_failing_request_fails_alone():
    engine = FakeEngine(delay=0.02, fail_if=lambda r: r["seed"] == 3)
    batcher = Batcher(engine, max_queue=16, max_batch=8, max_wait_ms=50).start()
    try:
        results = asyncio.run(submit_all(batcher, [request(i) for i in range(6)]))
    finally:
        batcher.close()
    assert isinstance(results[3], RuntimeError)
    assert all(isinstance(r.image, np.ndarray) for i, r in enumerate(results) if i != 3)


def test_full_queue_refuses_at_once():
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    batcher = Batcher(engine, max_queue=1, max_batch=1, max_wait_ms=0).start()

    async def scenario():
        running = asyncio.ensure_future(batcher.submit(request(0)))
        while not engine.entered.is_set():  # wait until the worker holds the first
            await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(batcher.submit(request(1)))
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            await batcher.submit(request(2))
        gate.set()
        return await asyncio.gather(running, queued)

    try:
        done = asyncio.run(scenario())
    finally:
        gate.set()
        batcher.close()
    assert len(done) == 2


def test_a_client_that_leaves_while_queued_is_never_run():
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    batcher = Batcher(engine, max_queue=8, max_batch=1, max_wait_ms=0).start()

    async def gone() -> bool:
        return True

    async def scenario():
        first = asyncio.ensure_future(batcher.submit(request(0)))
        while not engine.entered.is_set():  # the worker is now blocked inside the first call
            await asyncio.sleep(0.01)
        with pytest.raises(ClientGone):
            await batcher.submit(request(7), disconnected=gone, poll_s=0.01)
        gate.set()
        await first

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        batcher.close()
    assert [r["seed"] for r in engine.seen] == [0]


def test_close_fails_queued_requests_instead_of_hanging():
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    batcher = Batcher(engine, max_queue=8, max_batch=1, max_wait_ms=0).start()

    async def scenario():
        tasks = [asyncio.ensure_future(batcher.submit(request(i))) for i in range(3)]
        await asyncio.sleep(0.05)
        threading.Timer(0.05, gate.set).start()
        await asyncio.get_running_loop().run_in_executor(None, batcher.close)
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(scenario())
    assert isinstance(results[0].image, np.ndarray)
    assert all(isinstance(r, Exception) for r in results[1:])


def test_a_caller_cancelled_mid_batch_leaves_no_unretrieved_error():
    gate = threading.Event()
    engine = FakeEngine(gate=gate, fail_if=lambda r: r["seed"] == 0)
    batcher = Batcher(engine, max_queue=8, max_batch=1, max_wait_ms=0).start()
    errors: list[dict] = []

    async def scenario():
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
        task = asyncio.ensure_future(batcher.submit(request(0)))
        while not engine.entered.is_set():  # the worker has taken it and is inside the engine
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()  # now the engine raises for it; nobody is waiting any more
        await batcher.submit(request(1))  # the worker goes on serving
        await asyncio.sleep(0.05)
        import gc
        gc.collect()  # an unretrieved future exception is reported when the future is collected

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        batcher.close()
    assert [r["seed"] for r in engine.seen][-1] == 1
    assert not [e for e in errors if "never retrieved" in str(e.get("message", ""))]
