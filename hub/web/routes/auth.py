"""Login (OAuth2 password flow), who am I, change my password."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from hub.errors import AuthError, ForbiddenError
from hub.store.passwords import MIN_LENGTH
from hub.web.auth import CurrentUser
from hub.web.state import hub_state

router = APIRouter(prefix="/api/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    username: str
    role: str
    expires_at: datetime
    must_change_password: bool


class MeOut(BaseModel):
    username: str
    role: str
    must_change_password: bool


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_password: str
    new_password: str = Field(min_length=MIN_LENGTH, max_length=256)


@router.post("/token")
async def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    state = hub_state(request)
    address = request.client.host if request.client else "?"
    state.throttle.check(form.username, address)
    user = await state.store.users.authenticate(form.username, form.password)
    if user is None:
        state.throttle.failed(form.username, address)
        await asyncio.sleep(state.throttle.failure_delay)
        raise AuthError("wrong username or password")
    if not user.active:
        raise ForbiddenError("this account is disabled")
    state.throttle.succeeded(form.username)
    token, expires = state.tokens.issue(user.username, user.role)
    return TokenOut(
        access_token=token,
        username=user.username,
        role=user.role,
        expires_at=expires,
        must_change_password=user.must_change_password,
    )


@router.get("/me")
async def me(user: CurrentUser) -> MeOut:
    return MeOut(
        username=user.username, role=user.role, must_change_password=user.must_change_password
    )


@router.post("/password", status_code=204)
async def change_password(request: Request, user: CurrentUser, body: PasswordChange) -> Response:
    state = hub_state(request)
    if await state.store.users.authenticate(user.username, body.old_password) is None:
        address = request.client.host if request.client else "?"
        state.throttle.failed(user.username, address)
        raise ForbiddenError("the old password is wrong")
    if body.new_password == body.old_password:
        raise ForbiddenError("the new password must differ from the old one")
    await state.store.users.update(
        user.username, password=body.new_password, must_change_password=False
    )
    return Response(status_code=204)
