"""Evidence retention: a disk budget and a maximum age for snapshots and clips.

``sweep`` (synchronous; run it in a thread) walks the evidence directory, removes files older
than ``max_age`` and then the oldest files until the rest fit in ``max_bytes``, and returns the
ids of the events whose evidence went: files are named ``<event id>.jpg`` / ``<event id>.mp4``
(:class:`hub.video.evidence.EvidenceStore`). Age is the file's modification time (when it was
written) against the injected ``clock``. Temporary files of writers (``*.tmp``) are left alone
unless they are older than a day (a crash's leftovers).

``EvidenceRetention`` runs a sweep every ``interval`` seconds on the event loop's default
executor and hands the ids to ``mark_expired`` (the store's
:meth:`hub.store.events.EventRepo.mark_evidence_expired`), so the event's snapshot and clip
stop being offered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from prometheus_client import Counter, Gauge

from hub.aio import cancel_and_wait

log = logging.getLogger(__name__)

EVIDENCE_BYTES = Gauge("hub_evidence_bytes", "Bytes of snapshots and clips on disk")
EVIDENCE_REMOVED = Counter(
    "hub_evidence_removed_total", "Evidence files removed by retention", ["reason"]
)

EVIDENCE_SUFFIXES = (".jpg", ".mp4")
TMP_MAX_AGE = 24 * 3600.0

MarkExpired = Callable[[Sequence[UUID], datetime], Awaitable[int]]


@dataclass
class SweepResult:
    files: int = 0
    """Evidence files found."""
    bytes_before: int = 0
    bytes_after: int = 0
    removed: list[Path] = field(default_factory=list)
    expired: set[UUID] = field(default_factory=set)
    """Events that lost their snapshot or clip in this sweep."""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True, order=True)
class _File:
    mtime: float
    path: str
    size: int


def _walk(root: Path) -> list[_File]:
    out: list[_File] = []
    stack = [str(root)]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except FileNotFoundError:
            continue
        with it:
            for e in it:
                try:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        out.append(_File(st.st_mtime, e.path, st.st_size))
                except FileNotFoundError:
                    continue  # removed meanwhile
    return out


def _event_id(path: str) -> UUID | None:
    stem, dot, _ = os.path.basename(path).partition(".")
    if not dot:
        return None
    try:
        return UUID(stem)
    except ValueError:
        return None


def sweep(root: Path, *, max_bytes: int, max_age: float, now: float) -> SweepResult:
    """Enforce the budget and age on ``root`` once (oldest first)."""
    t0 = time.perf_counter()
    res = SweepResult()
    files: list[_File] = []
    for f in _walk(root):
        if f.path.endswith(".tmp"):
            if now - f.mtime > TMP_MAX_AGE:
                with contextlib.suppress(OSError):
                    os.unlink(f.path)
            continue
        if f.path.endswith(EVIDENCE_SUFFIXES):
            files.append(f)
    files.sort()
    res.files = len(files)
    total = res.bytes_before = sum(f.size for f in files)
    cutoff = now - max_age
    for f in files:
        too_old = f.mtime < cutoff
        if not too_old and total <= max_bytes:
            break  # sorted oldest first: the rest are younger and fit
        try:
            os.unlink(f.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("retention: cannot remove %s: %s", f.path, exc)
            continue
        total -= f.size
        res.removed.append(Path(f.path))
        EVIDENCE_REMOVED.labels("age" if too_old else "budget").inc()
        if (eid := _event_id(f.path)) is not None:
            res.expired.add(eid)
    res.bytes_after = total
    EVIDENCE_BYTES.set(total)
    _prune_dirs({Path(p).parent for p in res.removed}, root)
    res.seconds = time.perf_counter() - t0
    return res


def _prune_dirs(dirs: set[Path], root: Path) -> None:
    """Remove day/month/year directories that the sweep emptied (never ``root``)."""
    root = root.resolve()
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        d = d.resolve()
        while d != root and d.is_relative_to(root):
            try:
                d.rmdir()
            except OSError:
                break  # not empty (or gone)
            d = d.parent


class EvidenceRetention:
    """The periodic sweep of the evidence directory (a small service: start, stop)."""

    def __init__(
        self,
        root: Path,
        mark_expired: MarkExpired,
        *,
        max_bytes: int,
        max_age_seconds: float,
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.max_age = max_age_seconds
        self.interval = interval
        self._mark = mark_expired
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._unmarked: set[UUID] = set()
        """Events whose files went but whose mark failed: tried again at the next sweep."""
        self.last: SweepResult | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="evidence-retention")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def run_once(self) -> SweepResult:
        """One sweep, then the events marked; also what the periodic task does."""
        now = self._clock()
        res = await asyncio.to_thread(
            sweep, self.root, max_bytes=self.max_bytes, max_age=self.max_age, now=now
        )
        self._unmarked |= res.expired
        if self._unmarked:
            ids = sorted(self._unmarked)
            marked = await self._mark(ids, datetime.fromtimestamp(now, UTC))
            self._unmarked.difference_update(ids)
            log.info(
                "retention: removed %d files (%d events, %d newly marked); %d of %d bytes left",
                len(res.removed),
                len(res.expired),
                marked,
                res.bytes_after,
                self.max_bytes,
            )
        self.last = res
        return res

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("evidence retention sweep failed")
            await asyncio.sleep(self.interval)
