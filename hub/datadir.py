"""The hub's data directory and database files are private to the user the hub runs as.

The directory holds the JWT and MQTT secrets, device credentials, the database and the evidence
snapshots: nobody else on the machine may list or read it (0700, files 0600).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) or make an existing one 0700; returns it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = path.stat().st_mode
    if mode & stat.S_ISVTX:
        # A shared sticky directory such as /tmp: closing it would break other users.
        log.warning("data directory %s is a shared directory; not changing its mode", path)
        return path
    if stat.S_IMODE(mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if missing, else make it 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def private_sqlite(db: Path) -> None:
    """The database file 0600 before SQLite opens it: SQLite gives its WAL and shared-memory
    files the mode of the database file. Side files left by an older install are fixed too."""
    private_file(db)
    for suffix in SQLITE_SIDE_FILES:
        side = db.with_name(db.name + suffix)
        if side.exists():
            os.chmod(side, 0o600)
