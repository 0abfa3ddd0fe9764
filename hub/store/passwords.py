"""Password hashing (argon2id) off the event loop, and generated one-time passwords."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.errors import BusyError

MIN_LENGTH = 8
MAX_LENGTH = 256
"""Longest password accepted anywhere (argon2 would take more, but nobody types more)."""
HASH_THREADS = 2
"""Hashes computed at once: each costs ~64 MiB and a core for ~0.1 s, so a burst of logins
queues here instead of taking the machine's memory and both cores."""
MAX_WAITING = 64
"""Hashes that may wait for a thread; beyond that a caller is told the hub is busy (503), so a
flood of logins from many addresses cannot queue unbounded work."""

_T = TypeVar("_T")
_pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="password-hash")
_pending = 0

# A hash costs ~0.1 s and 64 MiB here; tests swap in a cheaper hasher with set_hasher().
_hasher = PasswordHasher()
_dummy_hash: str | None = None


def set_hasher(hasher: PasswordHasher) -> None:
    global _hasher, _dummy_hash
    _hasher = hasher
    _dummy_hash = None


def generate_password() -> str:
    """20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


async def _in_pool(fn: Callable[..., _T], *args: str) -> _T:
    global _pending
    if _pending >= HASH_THREADS + MAX_WAITING:
        raise BusyError("too many password checks at once; try again in a moment")
    _pending += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)
    finally:
        _pending -= 1


async def hash_password(password: str) -> str:
    return await _in_pool(_hasher.hash, password)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(hashed: str | None, password: str) -> bool:
    """Check ``password``; with ``hashed`` None, spend the same time and return False, so
    response times do not tell which usernames exist."""
    global _dummy_hash
    if hashed is None:
        if _dummy_hash is None:
            _dummy_hash = await hash_password(generate_password())
        await _in_pool(_verify, _dummy_hash, password)
        return False
    return await _in_pool(_verify, hashed, password)


def needs_rehash(hashed: str) -> bool:
    return _hasher.check_needs_rehash(hashed)
