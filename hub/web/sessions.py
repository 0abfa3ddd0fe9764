"""Open WebSockets per user, so that ending a user's sessions also closes their sockets at once.

A token is checked when a socket opens; after that the socket lives on its own. Logout, a new
password, a role change or disabling the account call :meth:`LiveSessions.end` (which also
takes the user out of their calls and ends a unit's WHIP session: :meth:`on_end`); each socket also
re-checks its token every :data:`RECHECK_SECONDS` (expiry, and changes made by another hub
process, which this registry does not see).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

RECHECK_SECONDS = 5.0


class LiveSessions:
    def __init__(self) -> None:
        self._open: dict[str, set[asyncio.Event]] = {}
        self._on_end: list[Callable[[str], Awaitable[None]]] = []

    def on_end(self, handler: Callable[[str], Awaitable[None]]) -> None:
        """Also run ``handler(username)`` when a user's sessions end: what else the user holds
        open (a call, a WHIP session) ends with them."""
        self._on_end.append(handler)

    @contextmanager
    def track(self, username: str) -> Iterator[asyncio.Event]:
        """An event set when the user's sessions end, for as long as the socket is open."""
        ended = asyncio.Event()
        self._open.setdefault(username, set()).add(ended)
        try:
            yield ended
        finally:
            events = self._open.get(username)
            if events is not None:
                events.discard(ended)
                if not events:
                    del self._open[username]

    def count(self, username: str) -> int:
        return len(self._open.get(username, ()))

    async def end(self, username: str) -> None:
        for ended in self._open.pop(username, set()):
            ended.set()
        for handler in self._on_end:
            try:
                await handler(username)
            except Exception:
                log.exception("ending what %s held open failed", username)
