"""The functions behind `python -m hub users ...` and `make demo`'s admin."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import Settings
from hub.errors import ConflictError, NotFoundError
from hub.store import open_store
from hub.store.users_cli import add_user, ensure_admin, list_users, set_password


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


async def _login(settings: Settings, username: str, password: str) -> bool:
    store = await open_store(settings)
    try:
        return await store.users.authenticate(username, password) is not None
    finally:
        await store.close()


async def _must_change(settings: Settings, username: str) -> bool:
    store = await open_store(settings)
    try:
        u = await store.users.get(username)
        assert u is not None
        return u.must_change_password
    finally:
        await store.close()


async def test_add_user_generated_password(settings: Settings) -> None:
    pw = await add_user(settings, "zhou", "operator", None)
    assert len(pw) >= 16
    assert await _login(settings, "zhou", pw)
    assert await _must_change(settings, "zhou")
    assert (settings.data_dir / "hub.db").exists()


async def test_add_user_given_password(settings: Settings) -> None:
    assert await add_user(settings, "qian", "supervisor", "given-pass-1") == "given-pass-1"
    assert await _login(settings, "qian", "given-pass-1")
    assert not await _must_change(settings, "qian")
    with pytest.raises(ConflictError):
        await add_user(settings, "qian", "operator", None)


async def test_list_users(settings: Settings) -> None:
    await add_user(settings, "b-user", "worker", None)
    await add_user(settings, "a-user", "device", None)
    assert await list_users(settings) == [("a-user", "device", True), ("b-user", "worker", True)]


async def test_set_password(settings: Settings) -> None:
    await add_user(settings, "sun", "operator", "first-pass-1")
    new = await set_password(settings, "sun", None)
    assert new != "first-pass-1" and len(new) >= 16
    assert await _login(settings, "sun", new)
    assert not await _login(settings, "sun", "first-pass-1")
    assert await _must_change(settings, "sun")
    assert await set_password(settings, "sun", "chosen-pass-2") == "chosen-pass-2"
    assert not await _must_change(settings, "sun")
    with pytest.raises(NotFoundError):
        await set_password(settings, "nobody", None)


async def test_ensure_admin(settings: Settings) -> None:
    pw = await ensure_admin(settings)
    assert pw is not None and len(pw) >= 16
    assert await _login(settings, "admin", pw)
    assert await _must_change(settings, "admin")
    assert await ensure_admin(settings) is None  # one exists now
    assert await _login(settings, "admin", pw)  # and its password is untouched


async def test_ensure_admin_restores_a_disabled_admin(settings: Settings) -> None:
    await add_user(settings, "admin", "operator", "old-pass-123")
    pw = await ensure_admin(settings)
    assert pw is not None
    assert ("admin", "admin", True) in await list_users(settings)
    assert await _login(settings, "admin", pw)
