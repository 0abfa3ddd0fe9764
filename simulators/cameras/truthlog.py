"""Append-only JSON-lines log of ground-truth events as they happen on the live timelines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any


class TruthLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] | None = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        # A few lines per second at most: a direct write keeps the order and needs no thread.
        if self._f is not None:
            self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
