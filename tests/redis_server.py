"""Private Redis servers for the tests: Debian's ``redis-server`` on a free port, in a temporary
directory, nothing kept on disk. ``shared()`` is one server for the session (started on first
use, stopped at the end); tests keep apart by key prefix. ``RedisServer`` alone is a server a
test owns (to stop and restart it under a running bus).
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

_lock = threading.Lock()
_shared: RedisServer | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, port: int | None = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError(
                "redis-server is not installed (Debian: redis-server); `make test` installs it"
            )
        self.exe = exe
        self.port = port or _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="hub-test-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        # A test server: nothing on disk (as the machine's own Redis runs).
        args += ["--save", "", "--appendonly", "no", "--logfile", str(self.dir / "log")]
        self.proc = subprocess.Popen(
            [self.exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log = (self.dir / "log").read_text(errors="replace") if (self.dir / "log").exists() else ""
        raise RuntimeError(f"redis-server did not start on {self.port}: {log[-2000:]}")

    def kill(self) -> None:
        """Gone at once, as in a crash: no shutdown, nothing saved."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def shared() -> RedisServer:
    global _shared
    with _lock:
        if _shared is None:
            _shared = RedisServer()
            atexit.register(stop)
        return _shared


def stop() -> None:
    global _shared
    with _lock:
        if _shared is not None:
            _shared.stop()
            _shared = None
