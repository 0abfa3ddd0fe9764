"""User accounts and roles."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.errors import ConflictError, NotFoundError
from hub.store import passwords
from hub.store.models import UserRow

Role = Literal["admin", "operator", "supervisor", "worker", "device"]
ROLES: tuple[Role, ...] = get_args(Role)

CACHE_SECONDS = 2.0
"""How long :meth:`UserRepo.cached` and :meth:`UserRepo.cached_list` answer from memory. Changes
made through this repository (a new password, logout, a role change, disabling) clear the
cache at once; changes by another process on the same database (the ``users`` command,
another hub) are seen within this time."""
MAX_CACHED = 10_000


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    active: bool
    must_change_password: bool
    created_at: datetime
    token_version: int = 0


def _user(row: UserRow) -> User:
    role = row.role if row.role in ROLES else "device"  # unknown roles get the least rights
    return User(
        username=row.username,
        role=role,
        active=row.active,
        must_change_password=row.must_change_password,
        created_at=row.created_at,
        token_version=row.token_version or 0,
    )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")


class UserRepo:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, cache_seconds: float = CACHE_SECONDS
    ) -> None:
        self._sessions = sessions
        self.cache_seconds = cache_seconds
        self._cached: dict[str, tuple[float, User]] = {}
        self._cached_list: tuple[float, list[User]] | None = None
        # Moves on with every change made here: a read that started before a change does not
        # put what it read into the cache.
        self._generation = 0

    def _changed(self) -> None:
        self._generation += 1
        self._cached.clear()
        self._cached_list = None

    async def cached(self, username: str) -> User | None:
        """:meth:`get`, answered from memory for :data:`CACHE_SECONDS` (for the per-request
        token check and other hot paths). Unknown users are not cached."""
        now = time.monotonic()
        hit = self._cached.get(username)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        generation = self._generation
        user = await self.get(username)
        if user is not None and generation == self._generation:
            if len(self._cached) >= MAX_CACHED:
                self._cached.clear()
            self._cached[username] = (now, user)
        return user

    async def cached_list(self) -> list[User]:
        """:meth:`list`, answered from memory for :data:`CACHE_SECONDS`."""
        now = time.monotonic()
        hit = self._cached_list
        if hit is not None and now - hit[0] < self.cache_seconds:
            return list(hit[1])
        generation = self._generation
        users = await self.list()
        if generation == self._generation:
            self._cached_list = (now, users)
        return list(users)

    async def create(
        self, username: str, role: str, password: str, *, must_change_password: bool = False
    ) -> User:
        _check_role(role)
        hashed = await passwords.hash_password(password)
        row = UserRow(
            username=username,
            password_hash=hashed,
            role=role,
            active=True,
            must_change_password=must_change_password,
        )
        try:
            async with self._sessions.begin() as s:
                s.add(row)
        except IntegrityError:
            raise ConflictError(f"user {username!r} already exists") from None
        finally:
            self._changed()
        return _user(row)

    async def get(self, username: str) -> User | None:
        async with self._sessions() as s:
            row = await s.scalar(select(UserRow).where(UserRow.username == username))
            return _user(row) if row else None

    async def list(self) -> list[User]:
        async with self._sessions() as s:
            rows = await s.scalars(select(UserRow).order_by(UserRow.username))
            return [_user(r) for r in rows]

    async def count_admins(self, *, active_only: bool = True) -> int:
        q = select(func.count()).select_from(UserRow).where(UserRow.role == "admin")
        if active_only:
            q = q.where(UserRow.active.is_(True))
        async with self._sessions() as s:
            return int(await s.scalar(q) or 0)

    async def update(
        self,
        username: str,
        *,
        role: str | None = None,
        active: bool | None = None,
        password: str | None = None,
        must_change_password: bool | None = None,
    ) -> User:
        """Change what is given. A new password, a role change or disabling ends every session
        of the user (their tokens stop working at once)."""
        if role is not None:
            _check_role(role)
        hashed = await passwords.hash_password(password) if password is not None else None
        try:
            async with self._sessions.begin() as s:
                row = await s.scalar(select(UserRow).where(UserRow.username == username))
                if row is None:
                    raise NotFoundError(f"no user {username!r}")
                ends_sessions = (
                    hashed is not None
                    or (role is not None and role != row.role)
                    or (active is not None and active != row.active)
                )
                if role is not None:
                    row.role = role
                if active is not None:
                    row.active = active
                if hashed is not None:
                    row.password_hash = hashed
                if ends_sessions:
                    row.token_version = (row.token_version or 0) + 1
                if must_change_password is not None:
                    row.must_change_password = must_change_password
        finally:
            self._changed()
        return _user(row)

    async def end_sessions(self, username: str) -> User:
        """Invalidate every token issued to the user so far (logout)."""
        try:
            async with self._sessions.begin() as s:
                row = await s.scalar(select(UserRow).where(UserRow.username == username))
                if row is None:
                    raise NotFoundError(f"no user {username!r}")
                row.token_version = (row.token_version or 0) + 1
        finally:
            self._changed()
        return _user(row)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches (active or not: callers decide); else None."""
        async with self._sessions() as s:
            row = await s.scalar(select(UserRow).where(UserRow.username == username))
        ok = await passwords.verify_password(row.password_hash if row else None, password)
        if not ok or row is None:
            return None
        if passwords.needs_rehash(row.password_hash):
            # Same password, stronger hash: the user's sessions stay valid.
            hashed = await passwords.hash_password(password)
            async with self._sessions.begin() as s:
                fresh = await s.scalar(select(UserRow).where(UserRow.username == username))
                if fresh is not None:
                    fresh.password_hash = hashed
        return _user(row)
