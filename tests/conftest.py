"""Suite-wide hooks."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Playwright's sync API keeps an event loop running in the main thread for the rest of the
    # session, after which pytest-asyncio cannot start its own: run the browser tests last.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
