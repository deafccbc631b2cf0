"""Prometheus metrics with one registry per app, so several apps in one process never collide."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("spade_http_requests", "HTTP requests by route template and status code",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("spade_http_request_duration_seconds", "Time from request start to response end",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_length = Gauge("spade_queue_length", "Synthesis requests waiting for the generator", registry=r)
        self.batch_size = Histogram("spade_batch_size", "Requests per generator call",
                                    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64), registry=r)
        self.inference = Histogram("spade_inference_duration_seconds", "Time of one generator call (whole batch)",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.rejected = Counter("spade_queue_rejected", "Synthesis requests turned away because the queue was full",
                                registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP response by route template (not raw path, to bound label cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
