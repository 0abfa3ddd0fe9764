"""An asyncio RTSP 1.0 server (RFC 2326) serving many simulated cameras from one process.

    server = RtspServer(port=8554, truth_path=Path("truth.jsonl"))
    server.add_camera("cam-1", load_or_encode("gate"), offset=12.0, truth=scene.truth)
    await server.start()            # rtsp://127.0.0.1:8554/cam-1
    server.freeze("cam-1"); server.resume("cam-1")
    await server.stop(); await server.start()   # same port again

Media goes as RTP over the RTSP TCP connection (interleaved). UDP SETUP is answered with
``461 Unsupported Transport`` so clients such as ffmpeg fall back to TCP.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulators.cameras.encode import EncodedLoop
from simulators.cameras.feed import CameraFeed
from simulators.cameras.rtp import sdp
from simulators.cameras.truth import TruthEvent
from simulators.cameras.truthlog import TruthLog

log = logging.getLogger(__name__)

SESSION_TIMEOUT = 60
_PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    501: "Not Implemented",
}
_MAX_REQUEST = 64 * 1024
SUB = "sub"
"""A camera's sub stream is served at ``rtsp://host:port/<camera>/sub``."""


class RtspServer:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 8554, *, truth_path: Path | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.truth_path = truth_path
        self.feeds: dict[str, CameraFeed] = {}
        self._server: asyncio.Server | None = None
        self._conns: set[RtspConnection] = set()
        self._truth: TruthLog | None = TruthLog(truth_path) if truth_path else None

    # ---- cameras -----------------------------------------------------------------------------

    def add_camera(
        self,
        camera_id: str,
        loop: EncodedLoop,
        *,
        offset: float = 0.0,
        truth: list[TruthEvent] | None = None,
    ) -> CameraFeed:
        feed = CameraFeed(camera_id, loop, offset=offset, truth=truth, truth_log=self._truth)
        self.feeds[camera_id] = feed
        if self._server is not None:
            feed.start()
        return feed

    def feed(self, camera_id: str) -> CameraFeed:
        return self.feeds[camera_id]

    def url(self, camera_id: str) -> str:
        return f"rtsp://{self.host}:{self.port}/{camera_id}"

    def stats(self, camera_id: str) -> dict[str, Any]:
        return self.feeds[camera_id].stats.as_dict()

    # ---- faults (per camera) -----------------------------------------------------------------

    def drop(self, camera_id: str) -> None:
        for f in self._camera(camera_id):
            f.drop()

    def freeze(self, camera_id: str) -> None:
        for f in self._camera(camera_id):
            f.freeze()

    def corrupt(self, camera_id: str, seconds: float = 5.0) -> None:
        for f in self._camera(camera_id):
            f.corrupt(seconds)

    def stop_camera(self, camera_id: str) -> None:
        for f in self._camera(camera_id):
            f.stop_answering()

    def resume(self, camera_id: str) -> None:
        for f in self._camera(camera_id):
            f.resume()

    def _camera(self, camera_id: str) -> list[CameraFeed]:
        """A camera's feeds: a fault of the camera hits its sub stream too."""
        sub = self.feeds.get(f"{camera_id}/{SUB}")
        return [self.feeds[camera_id], *([sub] if sub is not None else [])]

    def fault(self, camera_id: str, kind: str, **kw: Any) -> None:
        """Apply a fault by name: drop, freeze, corrupt, stop, resume."""
        actions = {
            "drop": self.drop,
            "freeze": self.freeze,
            "corrupt": self.corrupt,
            "stop": self.stop_camera,
            "resume": self.resume,
        }
        if kind not in actions:
            raise ValueError(f"unknown fault {kind!r}")
        actions[kind](camera_id, **kw)

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        if self._truth is None and self.truth_path is not None:
            self._truth = TruthLog(self.truth_path)
            for f in self.feeds.values():
                f.truth_log = self._truth
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: RtspConnection(self), self.host, self.port, reuse_address=True
        )
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        for f in self.feeds.values():
            f.start()
        log.info("rtsp simulator listening", extra={"port": self.port, "cameras": len(self.feeds)})

    async def stop(self) -> None:
        """Stop listening, close every connection and pause the timelines (start() resumes)."""
        if self._server is None:
            return
        self._server.close()
        for c in list(self._conns):
            c.close()
        await asyncio.gather(*(f.stop() for f in self.feeds.values()))
        await self._server.wait_closed()
        self._server = None
        if self._truth is not None:
            self._truth.close()
            self._truth = None
            for f in self.feeds.values():
                f.truth_log = None

    async def __aenter__(self) -> RtspServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class _Request:
    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "0")

    def camera_id(self) -> str:
        """The feed a URL names: ``/<camera>`` or a camera's sub stream ``/<camera>/sub``, each
        with the track's ``/trackID=0`` after it in SETUP."""
        parts = urlsplit(self.url).path.strip("/").split("/")
        if len(parts) > 1 and parts[1] == SUB:
            return f"{parts[0]}/{SUB}"
        return parts[0]


class RtspConnection(asyncio.Protocol):
    """One client TCP connection: RTSP requests in, replies and interleaved RTP out."""

    def __init__(self, server: RtspServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.feed: CameraFeed | None = None
        self.session: str | None = None
        self.channel = 0
        self.need_keyframe = True
        self._play_cseq: str | None = None
        self._play_url = ""

    # ---- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server._conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._conns.discard(self)
        if self.feed is not None:
            self.feed.detach(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.buf:
            if self.buf[0] == 0x24:  # '$': interleaved RTCP from the client; skip it
                if len(self.buf) < 4:
                    return
                n = int.from_bytes(self.buf[2:4], "big")
                if len(self.buf) < 4 + n:
                    return
                del self.buf[: 4 + n]
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > _MAX_REQUEST:
                    self.close()
                return
            head = bytes(self.buf[:end]).decode("utf-8", "replace")
            lines = head.split("\r\n")
            headers: dict[str, str] = {}
            for ln in lines[1:]:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            parts = lines[0].split()
            if len(parts) != 3:
                self._reply(_Request("", "", headers, body), 400)
                continue
            self._handle(_Request(parts[0].upper(), parts[1], headers, body))

    # ---- Viewer (used by the feed) -----------------------------------------------------------

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport else 0

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def play_started(self, seq: int, rtptime: int) -> None:
        if self._play_cseq is None:
            return
        cseq, self._play_cseq = self._play_cseq, None
        self._write_reply(
            cseq,
            200,
            {
                "Session": self.session or "",
                "Range": "npt=now-",
                "RTP-Info": f"url={self._play_url};seq={seq};rtptime={rtptime}",
            },
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # ---- requests ----------------------------------------------------------------------------

    def _handle(self, req: _Request) -> None:
        cam = req.camera_id()
        feed = self.server.feeds.get(cam) if cam else None
        # A stopped camera answers nothing at all, like a hung device.
        if (feed is not None and feed.stopped) or (self.feed is not None and self.feed.stopped):
            return
        m = req.method
        if m == "OPTIONS":
            self._reply(req, 200, {"Public": _PUBLIC})
        elif m == "DESCRIBE":
            if feed is None:
                self._reply(req, 404)
                return
            base = req.url.rstrip("/") + "/"
            body = sdp(feed.loop, cam, random.getrandbits(31)).encode()
            self._reply(
                req,
                200,
                {"Content-Base": base, "Content-Type": "application/sdp"},
                body,
            )
        elif m == "SETUP":
            self._setup(req, feed)
        elif m == "PLAY":
            if not self._check_session(req) or self.feed is None:
                return
            self._play_cseq = req.cseq
            self._play_url = req.url.rstrip("/") + "/trackID=0"
            self.feed.request_play(self)
        elif m == "PAUSE":
            if self._check_session(req) and self.feed is not None:
                self.feed.pause(self)
                self._reply(req, 200, {"Session": self.session or ""})
        elif m == "TEARDOWN":
            if self.feed is not None:
                self.feed.detach(self)
            self._reply(req, 200, {"Session": self.session or ""} if self.session else None)
            self.session = None
            self.feed = None
        elif m in ("GET_PARAMETER", "SET_PARAMETER"):
            self._reply(req, 200, {"Session": self.session} if self.session else None)
        else:
            self._reply(req, 501)

    def _setup(self, req: _Request, feed: CameraFeed | None) -> None:
        if feed is None:
            self._reply(req, 404)
            return
        transport = req.headers.get("transport", "")
        spec = transport.split(",")[0]
        params = [p.strip() for p in spec.split(";")]
        if not params or not params[0].upper().startswith("RTP/AVP/TCP"):
            self._reply(req, 461)
            return
        channel = 0
        for p in params:
            if p.startswith("interleaved="):
                try:
                    channel = int(p.split("=", 1)[1].split("-")[0])
                except ValueError:
                    self._reply(req, 400)
                    return
        if self.feed is not None and self.feed is not feed:
            self._reply(req, 459)
            return
        self.channel = channel
        if self.session is None:
            self.session = f"{random.getrandbits(48):012X}"
        if self.feed is None:
            self.feed = feed
            feed.attach(self)
        self._reply(
            req,
            200,
            {
                "Transport": f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1};"
                f"ssrc={feed.ssrc:08X}",
                "Session": f"{self.session};timeout={SESSION_TIMEOUT}",
            },
        )

    def _check_session(self, req: _Request) -> bool:
        sess = req.headers.get("session", "").split(";")[0].strip()
        if self.session is None or sess != self.session:
            self._reply(req, 454)
            return False
        return True

    def _reply(
        self,
        req: _Request,
        status: int,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self._write_reply(req.cseq, status, headers or {}, body)

    def _write_reply(
        self, cseq: str, status: int, headers: dict[str, str], body: bytes = b""
    ) -> None:
        out = [f"RTSP/1.0 {status} {_REASONS.get(status, 'Error')}", f"CSeq: {cseq}"]
        out.append("Server: cityhub-simulator")
        for k, v in headers.items():
            out.append(f"{k}: {v}")
        if body:
            out.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(out) + "\r\n\r\n").encode() + body)
