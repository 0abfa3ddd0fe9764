"""Secrets the hub makes for itself once and keeps in its data directory (0600)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from hub.datadir import private_dir
from hub.errors import HubError

log = logging.getLogger(__name__)


def load_or_create(
    path: Path, make: Callable[[], str], *, min_length: int, error: type[HubError]
) -> str:
    """The secret in ``path``; made with ``make`` and written (mode 0600, never overwritten) when
    the file does not exist. A file holding less than ``min_length`` characters raises ``error``:
    a truncated secret must not silently weaken auth."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) < min_length:
            raise error(f"{path} holds no usable secret; delete it to make a new one") from None
        return secret
    secret = make()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secret + "\n")
    log.info("generated a new secret in %s", path)
    return secret
