"""Request body size limit, enforced while the body streams in.

A pure ASGI middleware: it sits in front of every parser, so a too-large upload is cut off
after `max_body_bytes` have been read - before multipart parsing, JSON decoding or spooling
to disk. A declared Content-Length over the limit is refused without reading anything.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _BodyTooLarge(Exception):
    pass


def _too_large_response(limit: int) -> tuple[Message, Message]:
    body = json.dumps({"detail": f"request body is larger than the limit of {limit} bytes"}).encode()
    start = {"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close")]}
    return start, {"type": "http.response.body", "body": body}


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # 1. The declared length, when there is one.
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit:
                    for message in _too_large_response(self.limit):
                        await send(message)
                    return

        # 2. The bytes actually received (chunked uploads or a lying Content-Length).
        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                return  # whatever the app makes of the aborted body, the client gets our 413
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # Parsers may wrap our exception in their own; only swallow it when it was ours.
            if not exceeded:
                raise
        if exceeded and not response_started:
            for message in _too_large_response(self.limit):
                await send(message)
