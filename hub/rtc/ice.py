"""ICE servers for WebRTC clients, with TURN credentials minted per user (TURN REST API).

coturn with ``use-auth-secret`` / ``static-auth-secret`` accepts a username
``<expiry epoch>:<user>`` whose password is base64(HMAC-SHA1(secret, username)); it refuses it
after the expiry. The hub hands each call participant such a credential, so no long-lived TURN
password ever reaches a browser or a field phone, and a leaked one expires by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from pydantic import BaseModel


class IceServer(BaseModel):
    """One entry of ``RTCConfiguration.iceServers`` as browsers take it."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


def turn_credential(secret: str, user: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """(username, password) for coturn's ``use-auth-secret``, valid for ``ttl`` seconds."""
    expiry = int((time.time() if now is None else now) + ttl)
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(
    *, stun: list[str], turn: list[str], secret: str, user: str, ttl: int
) -> list[IceServer]:
    out = [IceServer(urls=stun)] if stun else []
    if turn and secret:
        username, credential = turn_credential(secret, user, ttl)
        out.append(IceServer(urls=turn, username=username, credential=credential))
    return out
