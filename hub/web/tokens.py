"""JWT access tokens (HS256) and the secret that signs them."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from hub.config import Settings
from hub.errors import AuthError
from hub.secretfile import load_or_create

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
SECRET_FILE = "jwt.secret"


def load_secret(settings: Settings) -> str:
    """``Settings.jwt_secret``, else the secret in ``data_dir/jwt.secret``, created once (0600)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    return load_or_create(
        Path(settings.data_dir) / SECRET_FILE,
        lambda: secrets.token_urlsafe(48),
        min_length=32,
        error=AuthError,
    )


@dataclass(frozen=True, slots=True)
class Claims:
    username: str
    role: str
    expires_at: datetime
    version: int
    """The user's token version at issue; the token is void once the stored one moved on."""


class Tokens:
    def __init__(self, secret: str, minutes: int) -> None:
        self._secret = secret
        self._ttl = timedelta(minutes=minutes)

    def issue(self, username: str, role: str, version: int) -> tuple[str, datetime]:
        now = datetime.now(UTC).replace(microsecond=0)
        exp = now + self._ttl
        claims = {"sub": username, "role": role, "ver": version, "iat": now, "exp": exp}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), exp

    def decode(self, token: str) -> Claims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "ver"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidTokenError:
            raise AuthError("invalid token") from None
        version = claims["ver"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise AuthError("invalid token")
        return Claims(
            username=str(claims["sub"]),
            role=str(claims.get("role", "")),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            version=version,
        )
