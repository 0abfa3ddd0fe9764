from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from web_helpers import PASSWORDS, RunningHub, make_settings, run_hub_with_users

from hub.store import passwords


@pytest.fixture(autouse=True)
def fast_hasher() -> Iterator[None]:
    # The production argon2 parameters cost 0.1 s per hash; the logic is the same.
    passwords.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.set_hasher(PasswordHasher())


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with run_hub_with_users(make_settings(tmp_path)) as h:
        yield h


@pytest.fixture
async def tokens(hub: RunningHub) -> dict[str, str]:
    """A token per role; the user is named after its role."""
    return {role: await hub.login(role, pw) for role, pw in PASSWORDS.items()}
