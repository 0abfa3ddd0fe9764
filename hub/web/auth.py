"""Who is calling: bearer tokens (header or ``?access_token=``), role checks, login throttling."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from hub.errors import AuthError, ForbiddenError, HubError
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


async def user_from_token(conn: HTTPConnection, token: str | None) -> User:
    """The active user the token names. The role comes from the store, not the token, so role
    changes and disabling take effect at once."""
    if not token:
        raise AuthError("missing bearer token")
    state = hub_state(conn)
    claims = state.tokens.decode(token)
    user = await state.store.users.get(claims.username)
    if user is None or not user.active:
        raise AuthError("account not found or disabled")
    return user


async def current_user(
    request: Request, _token: Annotated[str | None, Depends(_bearer)] = None
) -> User:
    return await user_from_token(request, token_from(request))


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: Role) -> Callable[[User], Awaitable[User]]:
    """A dependency that lets only these roles through (403 otherwise)."""
    allowed = frozenset(roles)

    async def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise ForbiddenError(f"role {user.role!r} may not do this")
        return user

    return check


class LoginThrottle:
    """Counts failed logins per username and per client address in a sliding window; past the
    limit, further attempts are refused (429) until old failures age out. Every failure also
    waits a little, which costs a person nothing and a guesser a lot."""

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
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def check(self, username: str, address: str) -> None:
        now = time.monotonic()
        limits = ((f"u:{username.lower()}", self.per_user), (f"a:{address}", self.per_address))
        for key, limit in limits:
            q = self._recent(key, now)
            if len(q) >= limit:
                raise TooManyAttemptsError(
                    "too many failed logins; try again later", q[0] + self.window - now
                )

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        for key in (f"u:{username.lower()}", f"a:{address}"):
            q = self._failures.setdefault(key, deque())
            self._failures.move_to_end(key)
            q.append(now)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"u:{username.lower()}", None)
