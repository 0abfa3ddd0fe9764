"""User administration for ``python -m hub users ...`` and ``make demo``.

Each call opens the store (migrating it if needed), does one thing and closes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from hub.config import Settings
from hub.store.db import open_store
from hub.store.passwords import generate_password

log = logging.getLogger(__name__)


async def add_user(settings: Settings, username: str, role: str, password: str | None) -> str:
    """Create a user and return its password (generated, one-time, when None)."""
    pw = password if password is not None else generate_password()
    store = await open_store(settings)
    try:
        await store.users.create(username, role, pw, must_change_password=password is None)
    finally:
        await store.close()
    return pw


async def list_users(settings: Settings) -> list[tuple[str, str, bool]]:
    """(username, role, active) for every user, by name."""
    store = await open_store(settings)
    try:
        return [(u.username, u.role, u.active) for u in await store.users.list()]
    finally:
        await store.close()


async def set_password(settings: Settings, username: str, password: str | None) -> str:
    """Set a password and return it (generated and one-time when None)."""
    pw = password if password is not None else generate_password()
    store = await open_store(settings)
    try:
        await store.users.update(username, password=pw, must_change_password=password is None)
    finally:
        await store.close()
    return pw


async def ensure_admin(settings: Settings) -> str | None:
    """Make sure an active admin exists. Creates ``admin`` with a one-time password and returns
    it when none does; returns None when there already is one."""
    store = await open_store(settings)
    try:
        if await store.users.count_admins(active_only=True) > 0:
            return None
        pw = generate_password()
        if await store.users.get("admin") is None:
            await store.users.create("admin", "admin", pw, must_change_password=True)
        else:
            # An `admin` account that was demoted or disabled: restore it rather than fail.
            await store.users.update(
                "admin", role="admin", active=True, password=pw, must_change_password=True
            )
        log.warning("created admin account 'admin' with a one-time password")
        return pw
    finally:
        await store.close()


async def ensure_accounts(settings: Settings, accounts: Mapping[str, str]) -> dict[str, str]:
    """Make each ``username -> role`` of ``accounts`` an active account with a fresh generated
    password that need not be changed (accounts for bots); returns ``username -> password``.

    An existing account that holds another role is left alone and left out of the answer: a
    name in a site file must not demote an operator or promote a worker."""
    out: dict[str, str] = {}
    store = await open_store(settings)
    try:
        for username, role in accounts.items():
            pw = generate_password()
            user = await store.users.get(username)
            if user is None:
                await store.users.create(username, role, pw, must_change_password=False)
            elif user.role != role:
                log.warning(
                    "account %r is a %s, not a %s: left as it is", username, user.role, role
                )
                continue
            else:
                await store.users.update(
                    username, active=True, password=pw, must_change_password=False
                )
            out[username] = pw
    finally:
        await store.close()
    return out
