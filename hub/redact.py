"""Secrets never leave the hub in text: credentials in URLs, tokens in query strings, and the
local paths of file sources are cut from error strings before they reach the API, a WebSocket
or a log line.

Two layers: each source cleans its own errors (it knows its URL: :func:`source_text`), and every
log record passes :class:`RedactFilter`, which catches what slipped through (an exception text
from a library, a URL in a third-party log line).
"""

from __future__ import annotations

import logging
import re
from pathlib import PurePath
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@host or scheme://token@host: everything between // and @.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@")
# Secrets in query strings and in the key=value paths some cameras use
# (rtsp://host/user=admin&password=...&channel=1).
_SECRET_PARAM = re.compile(
    r"(?i)\b(access_token|token|password|passwd|pwd|pass|secret|api_?key|auth|key)"
    r"(=)[^&\s'\"<>;]+"
)


def redact_text(text: str) -> str:
    """``text`` with URL credentials and secret parameters masked."""
    if "@" in text:
        text = _USERINFO.sub(rf"\1{MASK}@", text)
    if "=" in text:
        text = _SECRET_PARAM.sub(rf"\1\2{MASK}", text)
    return text


def redact_url(url: str) -> str:
    """A URL fit to show: its user and password replaced by ``***``, secret parameters masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        parts = parts._replace(netloc=f"{MASK}@{host}")
    return redact_text(urlunsplit(parts))


def _file_path(url: str) -> str | None:
    if url.startswith("file://"):
        return url.removeprefix("file://")
    if "://" not in url:
        return url
    return None


def source_text(text: str, url: str) -> str:
    """An error message of the source at ``url``, fit to show: the URL in any spelling the
    message may use becomes its redacted form; a local file becomes its name alone."""
    path = _file_path(url)
    if path is not None:
        shown = PurePath(path).name or MASK
        for spelling in (url, path):
            text = text.replace(spelling, shown)
        return redact_text(text)
    text = text.replace(url, redact_url(url))
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(text)
    if parts.password:
        text = text.replace(parts.password, MASK)
    return redact_text(text)


class RedactFilter(logging.Filter):
    """Masks secrets in a record's message and exception text. Installed on handlers, so it sees
    the records of every logger (libraries included) that reach them."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def install(handler: logging.Handler) -> None:
    """Idempotent."""
    if not any(isinstance(f, RedactFilter) for f in handler.filters):
        handler.addFilter(RedactFilter())


def install_on_root() -> None:
    """On every handler of the root logger (and of uvicorn's, which may not propagate)."""
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            install(handler)
