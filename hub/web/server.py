"""The HTTP server the hub runs in: uvicorn, configured in one place for `serve`, `demo` and the
tests, with the limits an exposed server needs.

- Request line plus headers are bounded (``Settings.max_header_bytes``): past the limit the
  connection gets 431 while the header is still arriving, so a huge header costs neither memory
  nor the event loop's time (httptools would otherwise buffer all of it).
- ``X-Forwarded-For`` / ``-Proto`` are believed only from ``Settings.trusted_proxies``.
- WebSocket messages from clients are small (the wall sends nothing of size).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hub.config import Settings

WS_MAX_MESSAGE = 64 * 1024
LINGER_SECONDS = 2.0
"""After refusing a request whose body or header is still arriving, the hub stops sending and
reads (and drops) for this long before it closes: closing a socket with unread input makes the
kernel send a reset, and the client would see a broken connection instead of the 413 or 431."""

_STATUS_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


class _HeadTooLargeError(Exception):
    pass


class _LingeringTransport:
    """The connection's transport, except that closing it while the client is still sending
    half-closes it first (see LINGER_SECONDS)."""

    def __init__(self, transport: asyncio.Transport, protocol: BoundedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        t = self._transport
        if self._lingering or t.is_closing():
            return
        if self._protocol.input_pending() and t.can_write_eof():
            self._lingering = True
            self._protocol.discard_input = True
            t.write_eof()
            t.resume_reading()
            asyncio.get_running_loop().call_later(LINGER_SECONDS, t.close)
            return
        t.close()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with a bound on the request head (line + headers) of every request."""

    max_head_bytes = 32 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._head_fields = 0
        self._too_large = False
        self.discard_input = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]

    def input_pending(self) -> bool:
        """The client is still sending this request (its head, or a body not read to its end)."""
        if self._too_large:
            return True
        cycle = self.cycle
        return cycle is not None and not self._in_head and cycle.more_body

    def data_received(self, data: bytes) -> None:
        if self._too_large or self.discard_input:
            return
        if self._in_head:
            # Raw bytes while the head is incomplete: bounds what the parser buffers for one
            # header that arrives in many pieces.
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes + len(data):
                self._refuse()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_fields = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_fields += len(url)
        self._check_head()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_fields += len(name) + len(value) + 4
        self._check_head()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def _check_head(self) -> None:
        if self._head_fields > self.max_head_bytes:
            self._too_large = True
            raise _HeadTooLargeError  # httptools turns it into HttpParserError: see below

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._too_large = True
        if self.transport.is_closing() or self.discard_input:
            return
        body = b"request header fields too large"
        self.transport.write(
            _STATUS_431
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        self.transport.close()


def _protocol(max_head_bytes: int) -> type[BoundedHttpToolsProtocol]:
    return type("HubHttpProtocol", (BoundedHttpToolsProtocol,), {"max_head_bytes": max_head_bytes})


def trusted_proxies(settings: Settings) -> list[str]:
    return [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]


def server_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for the hub; ``overrides`` for tests (port 0, lifespan)."""
    proxies = trusted_proxies(settings)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "http": _protocol(settings.max_header_bytes),
        "ws": "websockets-sansio",
        "ws_max_size": WS_MAX_MESSAGE,
        # Deflating live H.264 gains nothing and, with a few tiles open, kept the event loop's
        # thread busy compressing video: requests (a password change) waited behind it.
        "ws_per_message_deflate": False,
        # Only a configured proxy may name the client: otherwise any local process could pick
        # the address the login throttle counts against.
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or [],
        "server_header": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(app: Any, settings: Settings) -> None:
    uvicorn.Server(server_config(app, settings)).run()
