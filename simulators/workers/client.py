"""The hub's HTTP API as a field app or a duty officer's console uses it, and nothing more.

One :class:`HubClient` per account: it logs in (changing a one-time password if the hub asks),
sends the bearer token, and logs in again when the token stops working (expired, sessions
ended). Errors are raised, never swallowed: the bots decide whether to back off or move on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

MAX_STALE_RETRIES = 3
# A 503 with Retry-After: waited out this many times, each wait capped.
BUSY_RETRIES = 3
BUSY_WAIT_MAX_S = 5.0


class ApiError(Exception):
    """The hub answered with an error status (problem details in ``detail`` when it sent some)."""

    def __init__(self, status: int, method: str, path: str, detail: str) -> None:
        super().__init__(f"{method} {path}: {status} {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CaseView:
    """What the bots read of a case; the rest of the hub's answer is ignored on purpose, so a
    field the hub adds never breaks a bot."""

    id: int
    version: int
    state: str
    pending: str | None
    category: str
    title: str
    assignee: str | None
    grid_id: str | None
    position: tuple[float, float] | None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> CaseView:
        pos = data.get("position")
        return cls(
            id=int(data["id"]),
            version=int(data["version"]),
            state=str(data["state"]),
            pending=data.get("pending"),
            category=str(data.get("category", "")),
            title=str(data.get("title", "")),
            assignee=data.get("assignee"),
            grid_id=data.get("grid_id"),
            position=None if pos is None else (float(pos[0]), float(pos[1])),
        )


class Backoff:
    """Exponential waits with full jitter, so bots that lost the hub together do not come back
    in lockstep."""

    def __init__(self, rng: random.Random, *, first: float = 1.0, cap: float = 30.0) -> None:
        self.rng, self.first, self.cap = rng, first, cap
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def delay(self) -> float:
        self.failures = min(self.failures + 1, 20)  # 2**1024 would overflow a float
        return self.rng.uniform(0.5, 1.0) * min(self.cap, self.first * 2.0 ** (self.failures - 1))

    async def wait(self) -> None:
        await asyncio.sleep(self.delay())


class HubClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        username: str,
        password: str,
        *,
        login_gate: asyncio.Semaphore | None = None,
    ) -> None:
        self.http = http
        self.username = username
        self._password = password
        self._token: str | None = None
        self.role: str | None = None
        # Many accounts logging in at once from one address would trip the hub's login
        # throttle (and queue on its password hashing): a few at a time.
        self._gate = login_gate or asyncio.Semaphore(4)
        self._login_lock = asyncio.Lock()

    def __repr__(self) -> str:  # never the password
        return f"HubClient({self.username!r}, role={self.role!r})"

    # -- session -----------------------------------------------------------------------------

    async def login(self) -> None:
        async with self._gate:
            r = await self.http.post(
                "/api/auth/token", data={"username": self.username, "password": self._password}
            )
        body = _checked(r, "POST", "/api/auth/token")
        self._token = body["access_token"]
        self.role = body.get("role")
        if body.get("must_change_password"):
            await self._change_password()
        log.info(
            "%s logged in (%s)",
            self.username,
            self.role,
            extra={"username": self.username, "role": self.role},
        )

    async def _change_password(self) -> None:
        # The hub holds a one-time password for this account; the new one lives only in this
        # process (a restarted bot needs fresh credentials from whoever made the file).
        new = secrets.token_urlsafe(18)
        r = await self.http.post(
            "/api/auth/password",
            json={"old_password": self._password, "new_password": new},
            headers=self._auth(),
        )
        body = _checked(r, "POST", "/api/auth/password")
        self._password = new
        self._token = body["access_token"]
        log.warning(
            "%s: changed a one-time password; the credentials file is stale for it",
            self.username,
            extra={"username": self.username},
        )

    async def _fresh_token(self, refused: str | None) -> None:
        """Log in unless a token other than the ``refused`` one is at hand. The heartbeat and
        the work share the account: the first to find the token bad logs in for both."""
        async with self._login_lock:
            held = self._auth().get("Authorization")
            if held is None or held == refused:
                await self.login()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The parsed JSON answer (None when empty); :class:`ApiError` on an error status,
        httpx's errors when the hub cannot be reached."""
        await self._fresh_token(None)
        renewed = busy = 0
        while True:
            r = await self.http.request(
                method,
                path,
                json=json,
                params=params,
                content=content,
                headers={**(headers or {}), **self._auth()},
            )
            if r.status_code == 401 and not renewed:
                # Expired, or every session of the account was ended: once more, freshly.
                renewed += 1
                await self._fresh_token(r.request.headers.get("Authorization"))
                continue
            wait = _retry_after(r)
            if wait is not None and busy < BUSY_RETRIES:
                # The hub's store was busy and rolled the write back (as the field app does).
                busy += 1
                await asyncio.sleep(wait)
                continue
            return _checked(r, method, path)

    # -- field app ---------------------------------------------------------------------------

    async def heartbeat(
        self,
        position: tuple[float, float] | None,
        *,
        on_duty: bool | None = None,
        accuracy_m: float | None = None,
    ) -> None:
        body: dict[str, Any] = {}
        if position is not None:
            body["position"] = [round(position[0], 7), round(position[1], 7)]
        if accuracy_m is not None:
            body["accuracy_m"] = round(accuracy_m, 1)
        if on_duty is not None:
            body["on_duty"] = on_duty
        await self.call("POST", "/api/workers/me/heartbeat", json=body)

    async def upload_photo(self, jpeg: bytes) -> str:
        body = await self.call(
            "POST", "/api/photos", content=jpeg, headers={"Content-Type": "image/jpeg"}
        )
        return str(body["id"])

    async def report(self, body: dict[str, Any]) -> CaseView:
        return CaseView.parse(await self.call("POST", "/api/reports", json=body))

    # -- cases -------------------------------------------------------------------------------

    async def cases(self, states: Iterable[str], *, limit: int = 50) -> list[CaseView]:
        """Newest first, as the hub lists them (to a worker: their tasks and their own reports)."""
        params = [("state", s) for s in states] + [("limit", str(limit))]
        body = await self.call("GET", "/api/cases", params=params)
        return [CaseView.parse(c) for c in body["items"]]

    async def case(self, case_id: int) -> CaseView | None:
        detail = await self.detail(case_id)
        return None if detail is None else CaseView.parse(detail)

    async def detail(self, case_id: int) -> dict[str, Any] | None:
        """The case with its timeline and evidence; None when it is gone from this account's
        view (a returned case leaves its worker's list)."""
        try:
            body: dict[str, Any] = await self.call("GET", f"/api/cases/{case_id}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return body

    async def recommendations(self, case_id: int) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = await self.call("GET", f"/api/cases/{case_id}/recommendations")
        return body

    async def step(self, case: CaseView, action: str, **fields: Any) -> CaseView | None:
        """Take ``action`` on the case as last seen. When the hub says the view is stale (409),
        reload: if the case is still where it was, try again on the new version; if it moved
        on, hand the fresh case back for the caller to decide again. None when the case is no
        longer this account's to see."""
        for _ in range(MAX_STALE_RETRIES):
            body = {"action": action, "version": case.version, **fields}
            try:
                done = await self.call("POST", f"/api/cases/{case.id}/actions", json=body)
                return CaseView.parse(done)
            except ApiError as exc:
                if exc.status == 404:
                    return None
                if exc.status != 409:
                    raise
                fresh = await self.case(case.id)
                if fresh is None:
                    return None
                moved = (fresh.state, fresh.pending) != (case.state, case.pending)
                if moved or fresh.version == case.version:
                    # Moved on, or refused outright (the version was current): decide again.
                    log.info(
                        "case %s changed under %s (now %s); deciding again",
                        case.id,
                        action,
                        fresh.state,
                        extra={"case": case.id, "action": action, "state": fresh.state},
                    )
                    return fresh
                case = fresh
        return case


def _retry_after(r: httpx.Response) -> float | None:
    """Seconds to wait on a 503 with Retry-After (capped), else None."""
    if r.status_code != 503:
        return None
    try:
        wait = float(r.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(wait, BUSY_WAIT_MAX_S) if wait > 0 else None


def _checked(r: httpx.Response, method: str, path: str) -> Any:
    if r.status_code >= 400:
        detail = r.text[:300]
        try:
            problem = r.json()
            if isinstance(problem, dict):
                detail = str(problem.get("detail") or problem.get("title") or detail)
        except ValueError:
            pass
        raise ApiError(r.status_code, method, path, detail)
    if not r.content:
        return None
    return r.json()


def log_failure(logger: logging.Logger, what: str, who: str, exc: Exception) -> None:
    """One line for what is expected while the hub restarts or refuses (an error status, a lost
    connection); a traceback for anything else, which is a bug in the bot."""
    if isinstance(exc, ApiError | httpx.HTTPError):
        logger.warning("%s failed: %s: %s", what, type(exc).__name__, exc, extra={"bot": who})
    else:
        logger.exception("%s failed", what, extra={"bot": who})
