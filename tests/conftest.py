"""Suite-wide hooks.

``HUB_TEST_BUS=redis`` runs the suite with every hub it starts on the Redis Streams bus (a
private redis-server, tests/redis_server.py; each test under its own key prefix) instead of the
in-process one: `make test-redis`. Tests that hand a hub their own bus keep it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

SYNC_BROWSER_TESTS = Path(__file__).parent / "e2e"
TEST_BUS = os.environ.get("HUB_TEST_BUS", "memory")


def pytest_configure(config: pytest.Config) -> None:
    if TEST_BUS == "redis":
        import redis_server

        # Set before any test runs: session fixtures (the e2e hub) start hubs too.
        os.environ["HUB_BUS"] = "redis"
        os.environ["HUB_REDIS_URL"] = redis_server.shared().url
        os.environ["HUB_BUS_PREFIX"] = f"t{secrets.token_hex(4)}"
    elif TEST_BUS != "memory":
        raise pytest.UsageError(f"HUB_TEST_BUS is memory or redis, not {TEST_BUS!r}")


@pytest.fixture(autouse=True)
def _bus_prefix(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A test's hubs must not find another test's groups and streams.
    if TEST_BUS == "redis":
        monkeypatch.setenv("HUB_BUS_PREFIX", f"t{secrets.token_hex(4)}")
    yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Playwright's sync API (tests/e2e) keeps an event loop running in the main thread for the
    # rest of the session, after which pytest-asyncio cannot start its own: run those last.
    items.sort(key=lambda item: item.path.is_relative_to(SYNC_BROWSER_TESTS))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The private PostgreSQL cluster, if a test started one (tests/pg_cluster.py).
    import pg_cluster
    import redis_server

    pg_cluster.stop()
    redis_server.stop()
