"""Login (OAuth2 password flow), who am I, change my password, log out."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from hub.errors import AuthError, ForbiddenError
from hub.store.passwords import MAX_LENGTH, MIN_LENGTH
from hub.store.users import Role, User
from hub.web.auth import AnyCurrentUser
from hub.web.schemas import Out
from hub.web.state import HubState, hub_state

router = APIRouter(prefix="/api/auth", tags=["auth"])

MAX_USERNAME = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TokenOut(Out):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    username: str
    role: Role
    expires_at: datetime
    must_change_password: bool


class MeOut(Out):
    username: str
    role: Role
    must_change_password: bool


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_password: str = Field(max_length=MAX_LENGTH)
    new_password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


def _address(request: Request) -> str:
    # The peer, or the client a trusted proxy names (see hub/web/server.py).
    return request.client.host if request.client else "?"


def _token(state: HubState, user: User) -> TokenOut:
    token, expires = state.tokens.issue(user.username, user.role, user.token_version)
    return TokenOut(
        access_token=token,
        username=user.username,
        role=user.role,
        expires_at=expires,
        must_change_password=user.must_change_password,
    )


@router.post("/token")
async def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    state = hub_state(request)
    address = _address(request)
    # Counted before the password is checked: 40 parallel guesses count as 40.
    state.throttle.attempt(form.username, address)
    user = None
    # No stored username is longer or holds a control character (PostgreSQL text cannot even
    # hold NUL): such a name is simply wrong, and never reaches the store.
    plausible = len(form.username) <= MAX_USERNAME and not _CONTROL.search(form.username)
    if plausible and len(form.password) <= MAX_LENGTH:
        user = await state.store.users.authenticate(form.username, form.password)
    if user is None:
        await asyncio.sleep(state.throttle.failure_delay)
        raise AuthError("wrong username or password")
    if not user.active:
        raise ForbiddenError("this account is disabled")
    state.throttle.succeeded(form.username, address)
    return _token(state, user)


@router.get("/me")
async def me(user: AnyCurrentUser) -> MeOut:
    return MeOut(
        username=user.username, role=user.role, must_change_password=user.must_change_password
    )


@router.post("/password")
async def change_password(request: Request, user: AnyCurrentUser, body: PasswordChange) -> TokenOut:
    """Set a new password. Every session of the user ends, this one included: the answer is a
    fresh token for the caller."""
    state = hub_state(request)
    address = _address(request)
    # A stolen token must not become a way to guess the password.
    state.throttle.attempt(user.username, address)
    if await state.store.users.authenticate(user.username, body.old_password) is None:
        raise ForbiddenError("the old password is wrong")
    state.throttle.succeeded(user.username, address)
    if body.new_password == body.old_password:
        raise ForbiddenError("the new password must differ from the old one")
    updated = await state.store.users.update(
        user.username, password=body.new_password, must_change_password=False
    )
    await state.sessions.end(user.username)
    return _token(state, updated)


@router.post("/logout", status_code=204)
async def logout(request: Request, user: AnyCurrentUser) -> Response:
    """End every session of the caller: all their tokens stop working and their open
    WebSockets are closed (a token cannot be taken back alone; it is short-lived state)."""
    state = hub_state(request)
    await state.store.users.end_sessions(user.username)
    await state.sessions.end(user.username)
    return Response(status_code=204)
