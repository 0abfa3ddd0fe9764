"""Suite-wide hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

SYNC_BROWSER_TESTS = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Playwright's sync API (tests/e2e) keeps an event loop running in the main thread for the
    # rest of the session, after which pytest-asyncio cannot start its own: run those last.
    items.sort(key=lambda item: item.path.is_relative_to(SYNC_BROWSER_TESTS))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The private PostgreSQL cluster, if a test started one (tests/pg_cluster.py).
    import pg_cluster

    pg_cluster.stop()
