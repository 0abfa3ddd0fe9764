"""User accounts and roles."""

from __future__ import annotations

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
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

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
        return _user(row)

    async def end_sessions(self, username: str) -> User:
        """Invalidate every token issued to the user so far (logout)."""
        async with self._sessions.begin() as s:
            row = await s.scalar(select(UserRow).where(UserRow.username == username))
            if row is None:
                raise NotFoundError(f"no user {username!r}")
            row.token_version = (row.token_version or 0) + 1
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
