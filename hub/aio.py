"""Small asyncio helpers shared by the hub's services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel background tasks and wait until each has finished.

    Cancellation is expected and swallowed; any other exception a task died with is raised here,
    so a crashed background loop shows up at shutdown instead of vanishing.
    """
    live = [t for t in tasks if t is not None]
    for t in live:
        t.cancel()
    for t in live:
        with contextlib.suppress(asyncio.CancelledError):
            await t
