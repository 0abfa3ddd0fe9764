"""User administration (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.errors import ConflictError, NotFoundError
from hub.store.passwords import MAX_LENGTH, MIN_LENGTH, generate_password
from hub.store.users import Role, User
from hub.web.auth import require_roles
from hub.web.params import FILTER_TEXT
from hub.web.schemas import Out
from hub.web.state import hub_state

router = APIRouter(prefix="/api/users", tags=["users"])
Admin = Annotated[User, Depends(require_roles("admin"))]

USERNAME = r"^[\w.@-]{1,64}$"
Password = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]


class UserOut(Out):
    username: str
    role: Role
    active: bool
    must_change_password: bool
    created_at: datetime


class UserCreated(UserOut):
    password: str | None = None
    """The generated one-time password, when none was given; shown once."""


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME)
    role: Role
    password: Password | None = None


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    active: bool | None = None
    password: Password | None = None


def _out(u: User) -> UserOut:
    return UserOut(
        username=u.username,
        role=u.role,
        active=u.active,
        must_change_password=u.must_change_password,
        created_at=u.created_at,
    )


@router.get("")
async def list_users(request: Request, _admin: Admin) -> list[UserOut]:
    return [_out(u) for u in await hub_state(request).store.users.list()]


@router.post("", status_code=201)
async def create_user(request: Request, _admin: Admin, body: UserCreate) -> UserCreated:
    generated = body.password is None
    pw = generate_password() if body.password is None else body.password
    u = await hub_state(request).store.users.create(
        body.username, body.role, pw, must_change_password=generated
    )
    return UserCreated(**_out(u).model_dump(), password=pw if generated else None)


@router.patch("/{username}")
async def update_user(
    request: Request,
    admin: Admin,
    username: Annotated[str, Path(max_length=64, pattern=FILTER_TEXT)],
    body: UserPatch,
) -> UserOut:
    users = hub_state(request).store.users
    target = await users.get(username)
    if target is None:
        raise NotFoundError(f"no user {username!r}")
    loses_admin = (
        target.role == "admin"
        and target.active
        and ((body.role is not None and body.role != "admin") or body.active is False)
    )
    if loses_admin and await users.count_admins(active_only=True) <= 1:
        raise ConflictError("this is the last active admin; make another admin first")
    u = await users.update(
        username,
        role=body.role,
        active=body.active,
        password=body.password,
        # A password set by someone else is a one-time password.
        must_change_password=(username != admin.username) if body.password else None,
    )
    if u.token_version != target.token_version:
        await hub_state(request).sessions.end(username)
    return _out(u)
