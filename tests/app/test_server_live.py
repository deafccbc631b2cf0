"""Against a real uvicorn on 127.0.0.1: chunked uploads, a sustained load and an overload burst.

The server runs in a thread of this process on a port the OS picks; every request goes to
127.0.0.1 only, and every loop is bounded in time and count.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from app.main import create_app
from server_fakes import FakeEngine
from server_helpers import decode, label_png, make_settings

LOAD_CLIENTS, LOAD_SECONDS = 16, 20.0
BURST_CLIENTS, BURST_REQUESTS_EACH = 5 * LOAD_CLIENTS, 2


@contextlib.contextmanager
def serve(app):
    """Run `app` under uvicorn on 127.0.0.1 (a port the OS picks) until the block ends; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=10))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=url, timeout=5) as c:
            while True:
                try:
                    if c.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "live server did not become ready"
                time.sleep(0.1)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def live_server(model_dir):
    app = create_app(make_settings(model_dir, max_queue=32, max_batch=8, max_wait_ms=10,
                                   max_body_bytes=1024 * 1024, retry_after_s=1))
    with serve(app) as url:
        yield url


def synthesize(client: httpx.Client, i: int) -> tuple[int, bool, bytes]:
    files = {"labels": ("l.png", label_png(ids=(i % 16, (i + 5) % 16, (i + 9) % 16), seed=i), "image/png")}
    r = client.post("/synthesize", files=files, data={"seed": str(i)})
    return r.status_code, "retry-after" in r.headers, r.content


def test_a_chunked_upload_over_the_limit_is_refused(live_server):
    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="labels"; filename="a.png"\r\n\r\n'
        for _ in range(512):  # 512 x 8 KiB = 4 MiB, over the 1 MiB limit
            yield b"\0" * 8192

    with httpx.Client(base_url=live_server, timeout=30) as c:
        try:
            r = c.post("/synthesize", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
        except httpx.TransportError:
            pytest.skip("the server closed the connection before the client read the 413")  # allowed by HTTP
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert r.status_code == 413 and "larger than the limit" in r.json()["detail"]


def test_a_client_that_hangs_up_while_queued_costs_no_inference():
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    app = create_app(make_settings(max_batch=1, max_wait_ms=0), engine_loader=lambda s: engine)
    with serve(app) as url, ThreadPoolExecutor(1) as pool, httpx.Client(base_url=url, timeout=30) as c:
        try:
            first = pool.submit(synthesize, c, 1)             # the worker takes it and blocks
            assert engine.entered.wait(10)
            with httpx.Client(base_url=url, timeout=0.5) as impatient, pytest.raises(httpx.ReadTimeout):
                synthesize(impatient, 2)                      # queued behind it; gives up and hangs up
            time.sleep(0.5)                                   # the server notices within its poll interval
            assert app.state.server.batcher.pending == 0
        finally:
            gate.set()
        assert first.result()[0] == 200
    assert [r["seed"] for r in engine.seen] == [1]


@pytest.mark.slow
def test_sustained_load_then_a_5x_burst_sheds_with_503_only(live_server):
    results: list[tuple[str, int, bool]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def record(phase: str, status: int, retry: bool, body: bytes) -> None:
        if status == 200:
            assert decode(body).shape == (256, 256, 3)
        with lock:
            results.append((phase, status, retry))

    def steady_client(k: int) -> None:
        end = time.monotonic() + LOAD_SECONDS
        with httpx.Client(base_url=live_server, timeout=120) as c:
            i = k * 10_000
            while time.monotonic() < end:
                try:
                    status, retry, body = synthesize(c, i)
                    record("load", status, retry, body)
                    if status == 503:
                        time.sleep(0.2)
                except Exception as e:  # noqa: BLE001 - every failure to get an answer is counted
                    with lock:
                        errors.append(f"load: {type(e).__name__}: {e}")
                i += 1

    def burst_client(k: int) -> None:
        with httpx.Client(base_url=live_server, timeout=120) as c:
            for j in range(BURST_REQUESTS_EACH):
                try:
                    record("burst", *synthesize(c, 500_000 + k * 10 + j))
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(f"burst: {type(e).__name__}: {e}")

    with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        list(pool.map(steady_client, range(LOAD_CLIENTS)))
    with ThreadPoolExecutor(BURST_CLIENTS) as pool:
        list(pool.map(burst_client, range(BURST_CLIENTS)))

    assert not errors, errors[:5]
    by_phase = Counter((phase, status) for phase, status, _ in results)
    print(f"\nload test: {dict(sorted(by_phase.items()))}")
    assert {status for _, status, _ in results} <= {200, 503}, by_phase
    assert all(retry for _, status, retry in results if status == 503), "every 503 must carry Retry-After"
    assert by_phase[("load", 200)] > 0 and by_phase[("burst", 200)] > 0, by_phase
    assert by_phase[("burst", 503)] > 0, f"a 5x burst should overflow a 32-deep queue: {by_phase}"
    assert sum(n for (phase, _), n in by_phase.items() if phase == "burst") == BURST_CLIENTS * BURST_REQUESTS_EACH
    with httpx.Client(base_url=live_server, timeout=10) as c:
        assert c.get("/readyz").status_code == 200  # still healthy afterwards
        metrics = c.get("/metrics").text
    assert "spade_batch_size_count" in metrics
