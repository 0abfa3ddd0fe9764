"""`hub analyze`: run the detection core over a recording and print what it sees.

Decoding runs in its own thread (PyAV releases the GIL) and hands sampled, reduced frames to the
analysis loop through a small bounded queue, so decode and analysis overlap on two cores.

JSON lines: ``frame`` per analysed frame, ``event`` when an event starts (with its ``id``), and
``event_end`` (same ``id``) when an intrusion or loitering ends; what is still open at the end of
the file ends there, at its last sighting. Line crossings are instants and have no end line.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import av
import numpy as np
import orjson

from hub.config import Camera
from hub.errors import SourceError
from hub.video.analytics import AnalysisFrame, AnalyticsCore, RawEvent, reduce_luma
from hub.video.analytics.sampling import Sampler
from hub.video.evidence import EvidenceStore

log = logging.getLogger(__name__)

_QUEUE = 8


@dataclass(slots=True)
class _Decoded:
    media_time: float
    luma: np.ndarray
    frame: av.VideoFrame | None


def _source_name(video: Path | str) -> str:
    s = str(video)
    # Path() squashes "rtsp://host" to "rtsp:/host".
    for scheme in ("rtsp", "rtsps", "http", "https"):
        if s.startswith(f"{scheme}:/") and not s.startswith(f"{scheme}://"):
            return f"{scheme}://{s[len(scheme) + 2 :]}"
    return s


def _open(name: str) -> Any:
    if "://" not in name:
        p = Path(name)
        if not p.exists():
            raise SourceError(f"no such video file: {p}")
        if not p.is_file():
            raise SourceError(f"not a file: {p}")
    options = {"rtsp_transport": "tcp"} if name.startswith("rtsp") else {}
    try:
        container = av.open(name, options=options, timeout=10.0)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise SourceError(f"cannot open {name} as a video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise SourceError(f"{name} has no video stream")
    return container


def _decode(
    container: Any,
    camera: Camera,
    keep_frames: bool,
    out: queue.Queue[object],
    stop: threading.Event,
) -> None:
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        if camera.decode_keyframes_only:
            ctx.skip_frame = "NONKEY"
        sampler = Sampler(camera.analysis_fps)
        t0: float | None = None
        for frame in container.decode(stream):
            if stop.is_set():
                return
            if frame.time is None:
                continue
            if t0 is None:
                t0 = frame.time
            t = frame.time - t0
            if not sampler.take(t):
                continue
            luma = reduce_luma(frame, camera.analysis_width)
            out.put(_Decoded(t, luma, frame if keep_frames else None))
        out.put(None)
    except av.FFmpegError as exc:
        out.put(SourceError(f"decoding failed: {exc}"))
    except BaseException as exc:  # hand every failure to the reader instead of dying silently
        out.put(exc)
    finally:
        container.close()


def _frames(container: Any, camera: Camera, keep_frames: bool) -> Iterator[_Decoded]:
    q: queue.Queue[object] = queue.Queue(maxsize=_QUEUE)
    stop = threading.Event()
    th = threading.Thread(
        target=_decode, args=(container, camera, keep_frames, q, stop), name="analyze-decode"
    )
    th.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, _Decoded)
            yield item
    finally:
        stop.set()
        # Unblock a producer waiting on a full queue, then wait for it.
        while th.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                th.join(0.05)


def analyze_file(
    video: Path | str,
    camera: Camera,
    out: TextIO,
    *,
    as_json: bool,
    snapshot_dir: Path | None,
) -> int:
    """Analyse a file (or stream URL) as ``camera``; write results to ``out``; count events."""
    name = _source_name(video)
    container = _open(name)
    core = AnalyticsCore([camera])
    store = EvidenceStore(snapshot_dir) if snapshot_dir is not None else None
    geometry = {z.id: z.polygon for z in camera.zones}
    lines = {ln.id: ln.points for ln in camera.lines}
    start_wall = time.time()
    n_events = 0
    for d in _frames(container, camera, keep_frames=store is not None):
        f = AnalysisFrame(camera.id, d.media_time, start_wall + d.media_time, d.luma, d.frame)
        (res,) = core.process([f])
        if as_json:
            out.write(
                orjson.dumps(
                    {
                        "kind": "frame",
                        "media_time": round(res.media_time, 3),
                        "objects": [
                            {"track_id": o.track_id, "box": _r(o.box), "zones": o.zones}
                            for o in res.objects
                        ],
                        "motion": round(res.motion, 5),
                    }
                ).decode()
                + "\n"
            )
        for ev in res.events:
            n_events += 1
            snap = None
            if store is not None and d.frame is not None:
                snap = store.save_snapshot(
                    ev.id,
                    d.frame,
                    ev.box,
                    when=datetime.fromtimestamp(ev.wall_time, UTC),
                    label=_label(ev),
                    zone=geometry.get(ev.zone_id or ""),
                    line=lines.get(ev.line_id or ""),
                )
            out.write(_event_json(ev, snap) if as_json else _event_text(ev, snap))
        for ev in res.ended:
            out.write(_end_json(ev) if as_json else _end_text(ev))
    for ev in core.close_events():
        out.write(_end_json(ev) if as_json else _end_text(ev))
    out.flush()
    return n_events


def _r(box: tuple[float, ...]) -> list[float]:
    return [round(v, 4) for v in box]


def _label(ev: RawEvent) -> str:
    where = ev.zone_id or ev.line_id or ""
    extra = f" {ev.direction}" if ev.direction else ""
    return f"#{ev.track_id} {ev.type} {where}{extra}"


def _event_json(ev: RawEvent, snapshot: str | None) -> str:
    return (
        orjson.dumps(
            {
                "kind": "event",
                "id": str(ev.id),
                "type": ev.type,
                "zone_id": ev.zone_id,
                "line_id": ev.line_id,
                "direction": ev.direction,
                "track_id": ev.track_id,
                "media_time": round(ev.media_time, 3),
                "end_media_time": _t(ev.end_media_time),
                "box": _r(ev.box),
                "confidence": ev.confidence,
                "dwell_seconds": _t(ev.dwell_seconds),
                "snapshot": snapshot,
            }
        ).decode()
        + "\n"
    )


def _event_text(ev: RawEvent, snapshot: str | None) -> str:
    where = f"zone={ev.zone_id}" if ev.zone_id else f"line={ev.line_id} {ev.direction}"
    dwell = f" dwell={ev.dwell_seconds:.1f}s" if ev.dwell_seconds is not None else ""
    snap = f" snapshot={snapshot}" if snapshot else ""
    return (
        f"{ev.media_time:9.2f}s  {ev.type:<13} {where} track={ev.track_id} "
        f"conf={ev.confidence:.2f}{dwell}{snap}\n"
    )


def _t(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _end_json(ev: RawEvent) -> str:
    return (
        orjson.dumps(
            {
                "kind": "event_end",
                "id": str(ev.id),
                "type": ev.type,
                "media_time": round(ev.media_time, 3),
                "end_media_time": _t(ev.end_media_time),
                "dwell_seconds": _t(ev.dwell_seconds),
            }
        ).decode()
        + "\n"
    )


def _end_text(ev: RawEvent) -> str:
    end = ev.end_media_time if ev.end_media_time is not None else ev.media_time
    where = f"zone={ev.zone_id}" if ev.zone_id else f"line={ev.line_id}"
    dwell = f" dwell={ev.dwell_seconds:.1f}s" if ev.dwell_seconds is not None else ""
    return (
        f"{end:9.2f}s  {ev.type + ' end':<13} {where} track={ev.track_id} "
        f"from={ev.media_time:.2f}s lasted={end - ev.media_time:.1f}s{dwell}\n"
    )
