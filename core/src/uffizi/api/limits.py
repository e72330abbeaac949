"""The request body limit: no request body (uploads included) over `max_upload_bytes`.

An ASGI middleware, so it holds for every route and every content type: a declared
`Content-Length` over the limit is answered 413 before a byte is read; a body that streams
past the limit (chunked, or lying about its length) is cut off as soon as it crosses it, and
the request answers 413 `payload_too_large` whatever the route was doing with the body.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from uffizi.api.errors import envelope
from uffizi.errors import PayloadTooLarge


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _error(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is over {self.max_bytes} bytes (setting UFFIZI_MAX_UPLOAD_BYTES)",
            details={"limit": self.max_bytes},
        )

    async def _answer(self, send: Send) -> None:
        exc = self._error()
        body = json.dumps(envelope(exc.code, exc.message, exc.details)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._answer(send)
                return
        seen = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise self._error()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app made of the cut-off body, the answer is 413
                if not started:
                    started = True
                    await self._answer(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not started:
                await self._answer(send)
