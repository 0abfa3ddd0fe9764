"""Keep tokens out of logs: browsers must pass them as ``?access_token=`` (WebSocket, <img>),
and uvicorn logs request paths with their query string."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(access_token=)[^&\s\"']+")

LOGGERS = ("uvicorn.error", "uvicorn.access", "uvicorn")


def redact(text: str) -> str:
    return _TOKEN.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        if "access_token=" in message:
            record.msg = redact(message)
            record.args = None
        return True


def install_log_redaction() -> None:
    """Idempotent: attach one filter to each uvicorn logger."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
