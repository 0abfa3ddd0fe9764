"""Password hashing (argon2id) off the event loop, and generated one-time passwords."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8

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


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


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
        await asyncio.to_thread(_verify, _dummy_hash, password)
        return False
    return await asyncio.to_thread(_verify, hashed, password)


def needs_rehash(hashed: str) -> bool:
    return _hasher.check_needs_rehash(hashed)
