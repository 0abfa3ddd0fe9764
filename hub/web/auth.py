"""Who is calling: bearer tokens (header or ``?access_token=``), role checks, login throttling."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from hub.errors import AuthError, ForbiddenError, HubError, PasswordChangeRequiredError
from hub.store.users import Role, User
from hub.web.state import hub_state

WALL_ROLES: tuple[Role, ...] = ("admin", "operator", "supervisor")
"""Roles that watch the wall: cameras, events, live video, metrics."""

ALL_ROLES: tuple[Role, ...] = ("admin", "operator", "supervisor", "worker", "device")

# Declared for the OpenAPI document; the token is read by token_from() so that the query
# parameter works too (browsers cannot set headers on <img> or WebSocket).
_bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


class TooManyAttemptsError(HubError):
    status = 429
    title = "Too many attempts"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, round(retry_after)))}


def token_from(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.query_params.get("access_token") or None


async def user_from_token(
    conn: HTTPConnection, token: str | None, *, allow_password_change: bool = False
) -> User:
    """The active user the token names. The role comes from the store, not the token, so role
    changes and disabling take effect at once; a token issued before the user's sessions were
    ended (logout, new password, role change, disabling) is refused. A user who must change
    their password passes only where ``allow_password_change`` says so. The user is read from
    the store's short cache (:meth:`hub.store.users.UserRepo.cached`): changes made by the hub
    clear it at once; those made by another process show within its few seconds."""
    if not token:
        raise AuthError("missing bearer token")
    state = hub_state(conn)
    claims = state.tokens.decode(token)
    user = await state.store.users.cached(claims.username)
    if user is None or not user.active:
        raise AuthError("account not found or disabled")
    if claims.version != user.token_version:
        raise AuthError("this session has ended; log in again")
    if user.must_change_password and not allow_password_change:
        raise PasswordChangeRequiredError("change your password first (POST /api/auth/password)")
    return user


async def current_user(
    request: Request, _token: Annotated[str | None, Depends(_bearer)] = None
) -> User:
    return await user_from_token(request, token_from(request))


async def current_user_before_password_change(
    request: Request, _token: Annotated[str | None, Depends(_bearer)] = None
) -> User:
    """For the few routes a user with a one-time password may call: who am I, change the
    password, log out."""
    return await user_from_token(request, token_from(request), allow_password_change=True)


CurrentUser = Annotated[User, Depends(current_user)]
AnyCurrentUser = Annotated[User, Depends(current_user_before_password_change)]


def require_roles(*roles: Role) -> Callable[[User], Awaitable[User]]:
    """A dependency that lets only these roles through (403 otherwise)."""
    allowed = frozenset(roles)

    async def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise ForbiddenError(f"role {user.role!r} may not do this")
        return user

    return check


def _key(kind: str, value: str) -> str:
    # A fixed-size key whatever the client sends: a megabyte username costs 32 bytes here.
    return kind + hashlib.blake2b(value.encode(errors="replace"), digest_size=16).hexdigest()


class LoginThrottle:
    """Counts login attempts per username and per client address in a sliding window. An attempt
    counts before its password is checked, so parallel guesses are limited like sequential
    ones; a successful login takes its own attempt back and clears the username's. Past the
    limit, attempts are refused (429) until old ones age out. Every failure also waits a little,
    which costs a person nothing and a guesser a lot. Keys expire with their last attempt."""

    def __init__(
        self,
        *,
        per_user: int = 5,
        per_address: int = 30,
        window: float = 60.0,
        failure_delay: float = 0.25,
        max_keys: int = 10_000,
    ) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window = window
        self.failure_delay = failure_delay
        self._max_keys = max_keys
        # Ordered by last attempt: expired keys sit at the front.
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._attempts)

    def _expire(self, now: float) -> None:
        while self._attempts:
            key, q = next(iter(self._attempts.items()))
            if q and q[-1] > now - self.window and len(self._attempts) <= self._max_keys:
                return
            del self._attempts[key]

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._attempts.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def attempt(self, username: str, address: str) -> None:
        """Count one login attempt, or refuse it (429) when either limit is reached."""
        now = time.monotonic()
        self._expire(now)
        keys = (
            (_key("u:", username.lower()), self.per_user),
            (_key("a:", address), self.per_address),
        )
        for key, limit in keys:
            q = self._recent(key, now)
            if len(q) >= limit:
                raise TooManyAttemptsError(
                    "too many failed logins; try again later", q[0] + self.window - now
                )
        for key, _ in keys:
            q = self._attempts.setdefault(key, deque())
            self._attempts.move_to_end(key)
            q.append(now)

    def succeeded(self, username: str, address: str) -> None:
        self._attempts.pop(_key("u:", username.lower()), None)
        q = self._attempts.get(_key("a:", address))
        if q:
            q.pop()
