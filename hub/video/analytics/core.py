"""The analytics core: batched motion for many cameras, then per-camera tracking and rules.

``process`` takes whatever frames the pipeline has collected (any cameras, possibly several
frames of one camera) and splits them into rounds holding at most one frame per camera, in time
order. Each round runs motion once per image-size group (one set of OpenCV calls for all its
cameras); only tracking and rules, which depend on the few objects in view, run per camera.

Events that last (intrusion, loitering) start in ``FrameResult.events`` and end, with the same
id, in ``FrameResult.ended`` of a later frame; ``close_events`` ends what is still open when a
stream stops or is lost, ``remove_camera`` when a camera goes away.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hub.config import Camera
from hub.video.analytics.motion import GhostCheck, MotionGroup
from hub.video.analytics.rules import CameraRules, polygon_mask
from hub.video.analytics.tracker import MIN_HITS, Track, Tracker
from hub.video.analytics.types import AnalysisFrame, FrameResult, RawEvent, TrackedObject

log = logging.getLogger(__name__)

GHOST_CHECK_HITS = (MIN_HITS, MIN_HITS + 3)


@dataclass(slots=True)
class _CameraState:
    camera: Camera
    tracker: Tracker
    group: MotionGroup | None = None
    slot: int = -1
    rules: CameraRules | None = None
    ghosts: GhostCheck | None = None
    ended: list[RawEvent] | None = None
    """Events closed outside a frame (a size change) waiting for the next result."""


def confidence(tr: Track, height: int) -> float:
    """0..1 from how long the track has held (stability) and how large it is."""
    stability = min(tr.hits, 6) / 6.0
    size = min(tr.box[3] / (0.12 * height), 1.0)
    return round(0.35 + 0.45 * stability + 0.2 * size, 3)


class AnalyticsCore:
    """Not thread-safe: call from one worker thread at a time. Never touches asyncio."""

    def __init__(self, cameras: Iterable[Camera] = ()) -> None:
        self._cams: dict[str, _CameraState] = {}
        self._groups: dict[tuple[int, int], MotionGroup] = {}
        for c in cameras:
            self.add_camera(c)

    @property
    def camera_ids(self) -> list[str]:
        return list(self._cams)

    def add_camera(self, camera: Camera) -> None:
        """Add (or replace, resetting its state) a camera."""
        if camera.id in self._cams:
            self.remove_camera(camera.id)
        # Tracks survive about a second without a blob, and at least one missed frame.
        memory = max(1.0, 1.5 / camera.analysis_fps)
        self._cams[camera.id] = _CameraState(camera, Tracker(memory_seconds=memory))

    def remove_camera(self, camera_id: str) -> list[RawEvent]:
        """Forget a camera; returns its open events, ended at their last sighting."""
        st = self._cams.pop(camera_id, None)
        if st is None:
            return []
        if st.group is not None:
            st.group.remove(st.slot)
        return self._close(st)

    def close_events(self, camera_id: str | None = None) -> list[RawEvent]:
        """End the open events of one camera (or all) at their last sighting, and forget its
        tracks: its stream ended or has been silent for longer than the tracker's memory."""
        states = [self._cams[camera_id]] if camera_id in self._cams else []
        if camera_id is None:
            states = list(self._cams.values())
        return [ev for st in states for ev in self._close(st)]

    @staticmethod
    def _close(st: _CameraState) -> list[RawEvent]:
        ended = st.ended or []
        st.ended = None
        if st.rules is not None:
            ended += st.rules.close_all()
        st.tracker.tracks = []
        return ended

    def process(self, frames: Sequence[AnalysisFrame]) -> list[FrameResult]:
        results: list[FrameResult | None] = [None] * len(frames)
        per_cam: dict[str, list[int]] = {}
        for i, f in enumerate(frames):
            per_cam.setdefault(f.camera_id, []).append(i)
        queues: list[list[int]] = []
        for cam_id, idxs in per_cam.items():
            if cam_id not in self._cams:
                log.debug("frame for unknown camera %s ignored", cam_id)
                for i in idxs:
                    f = frames[i]
                    results[i] = FrameResult(f.camera_id, f.media_time, f.wall_time, 0.0)
                continue
            if len(idxs) > 1:
                idxs.sort(key=lambda i: frames[i].media_time)
            queues.append(idxs)
        depth = max((len(q) for q in queues), default=0)
        for r in range(depth):
            self._round([q[r] for q in queues if len(q) > r], frames, results)
        return [r for r in results if r is not None]

    def _round(
        self,
        idxs: list[int],
        frames: Sequence[AnalysisFrame],
        results: list[FrameResult | None],
    ) -> None:
        by_group: dict[int, tuple[MotionGroup, list[int], list[int]]] = {}
        for i in idxs:
            f = frames[i]
            st = self._cams[f.camera_id]
            shape = f.luma.shape
            if st.group is None or (st.group.height, st.group.width) != shape:
                self._place(st, shape[0], shape[1])
            assert st.group is not None
            g = by_group.get(id(st.group))
            if g is None:
                by_group[id(st.group)] = g = (st.group, [], [])
            g[1].append(st.slot)
            g[2].append(i)
        for group, slots, members in by_group.values():
            # Slot order lets the group work in place on contiguous runs of its buffers.
            order = sorted(range(len(slots)), key=slots.__getitem__)
            slots = [slots[j] for j in order]
            members = [members[j] for j in order]
            motions = group.process(slots, [frames[i].luma for i in members])
            for i, m in zip(members, motions, strict=True):
                f = frames[i]
                st = self._cams[f.camera_id]
                results[i] = self._camera_frame(st, f, m.motion, m.boxes)

    def _place(self, st: _CameraState, height: int, width: int) -> None:
        if st.group is not None:
            st.group.remove(st.slot)
        group = self._groups.get((height, width))
        if group is None:
            group = self._groups[(height, width)] = MotionGroup(height, width)
        cam = st.camera
        mask = None
        if cam.masks:
            mask = 255 - polygon_mask([list(m) for m in cam.masks], height, width)
        st.group = group
        st.slot = group.add(mask)
        if st.rules is not None:
            # New geometry, new tracks: what was open ends with the old picture.
            st.ended = (st.ended or []) + st.rules.close_all()
        st.rules = CameraRules(cam, height, width)
        st.ghosts = GhostCheck(group, st.slot)
        st.tracker = Tracker(memory_seconds=st.tracker.memory_seconds, size=(width, height))

    @staticmethod
    def _drop_ghosts(
        st: _CameraState, ghosts: GhostCheck, tracks: list[Track], luma: np.ndarray
    ) -> list[Track]:
        # Checked on confirmation and once more after a second (a ghost uncovered by an object
        # moving away grows at first), only while still: ghosts never move. They are born where
        # something left: the start of the stream, a parked car driving off.
        gone: list[Track] = []
        for tr in tracks:
            due = tr.updated and not tr.coasting and tr.hits in GHOST_CHECK_HITS and tr.still
            if due and ghosts.is_ghost(tr.box, luma):
                ghosts.absorb(tr.box, luma)
                gone.append(tr)
        if not gone:
            return tracks
        st.tracker.tracks = [t for t in st.tracker.tracks if t not in gone]
        return [t for t in tracks if t not in gone]

    def _camera_frame(
        self,
        st: _CameraState,
        f: AnalysisFrame,
        motion: float,
        boxes: list[tuple[int, int, int, int]],
    ) -> FrameResult:
        res = FrameResult(f.camera_id, f.media_time, f.wall_time, motion)
        rules = st.rules
        assert rules is not None
        if st.ended:
            res.ended, st.ended = st.ended, None
        if not boxes and not st.tracker.tracks:
            if rules.pending:
                res.ended += rules.expire(f.media_time)
            return res
        tracks = st.tracker.update(f.media_time, boxes)
        if st.ghosts is not None:
            tracks = self._drop_ghosts(st, st.ghosts, tracks, f.luma)
        h, w = rules.height, rules.width
        confs = [confidence(tr, h) for tr in tracks]
        zones_of, res.events, ended = rules.evaluate(f.media_time, f.wall_time, tracks, confs)
        if ended:
            res.ended += ended
        for tr, conf, zones in zip(tracks, confs, zones_of, strict=True):
            if not tr.confirmed:
                continue
            res.objects.append(
                TrackedObject(
                    track_id=tr.track_id,
                    box=rules.norm(tr.box),
                    zones=list(zones),
                    confidence=conf,
                    age_seconds=f.media_time - tr.born,
                    velocity=(tr.vx / w, tr.vy / h),
                )
            )
        return res
