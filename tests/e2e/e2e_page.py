"""Page helpers of the browser tests that the API helpers (e2e_api) do not cover."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Live tiles are muted <video autoplay>; this only removes doubt on headless builds.
    "--autoplay-policy=no-user-gesture-required",
]


@contextmanager
def held_lists(page: Any, pattern: re.Pattern[str], start: Callable[[], None]) -> Iterator[None]:
    """A slow answer, made on purpose: ``start()`` makes the page ask for what ``pattern``
    matches; the hub answers at once, but the page gets the answer only when the block ends
    (what the block does happens while the page waits). Then the page has handled it."""
    held: list[tuple[Any, Any]] = []
    page.route(pattern, lambda route: held.append((route, route.fetch())))
    try:
        start()
        for _ in range(100):
            if held:
                break
            page.wait_for_timeout(100)
        assert held, f"the page did not ask for {pattern.pattern}"
        yield
        with page.expect_response(pattern):
            for route, response in held:
                route.fulfill(response=response)
    finally:
        page.unroute(pattern)
    page.wait_for_timeout(500)  # the answer's handling runs after its response
