"""What the cluster tests do with the hub processes they start: ask one its health, stop all."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterable
from typing import Any

import httpx

Proc = tuple[subprocess.Popen[bytes], int]
"""A started process and the port of its HTTP server."""


def health(proc: Proc) -> dict[str, Any] | None:
    """Its ``/api/health``; None while it is down or not answering."""
    popen, port = proc
    if popen.poll() is not None:
        return None
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
    except httpx.HTTPError:
        return None
    return dict(r.json()) if r.status_code == 200 else None


def stop_all(procs: Iterable[Proc]) -> None:
    """SIGTERM to every one still running, then wait (20 s each) or kill."""
    procs = list(procs)
    for popen, _ in procs:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
    for popen, _ in procs:
        try:
            popen.wait(20)
        except subprocess.TimeoutExpired:
            popen.kill()
