"""Request bodies are bounded before routing: a body larger than its route's limit is refused
with 413 before any handler, auth check or form parser reads it into memory.

The limit is ``Settings.max_body_bytes`` (1 MiB) everywhere except under the path prefixes given
in ``larger``, routes that take uploads and stream them to disk with their own limit.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.web.problems import PROBLEM_JSON, problem_body


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit. An HTTPException, so that
    FastAPI's body parsing lets it through as itself instead of a generic 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, larger: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Longest prefix first, so the most specific route's limit wins.
        self.larger = sorted(larger, key=lambda p: len(p[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.larger:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.limit_for(path)
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0:
                await _reply(send, 400, "Bad Request", "invalid Content-Length", path)
                return
            if size > limit:
                await _reply(
                    send,
                    413,
                    "Content Too Large",
                    f"the request body is larger than {limit} bytes",
                    path,
                )
                return

        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return msg

        async def watch_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, bounded_receive, watch_send)
        except BodyTooLargeError as exc:
            # Reached only when the app let it escape; the problem handler answers otherwise.
            if not started:
                await _reply(send, 413, "Content Too Large", str(exc.detail), path)


async def _reply(send: Send, status: int, title: str, detail: str, path: str) -> None:
    body = orjson.dumps(problem_body(status, path, title=title, detail=detail))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
