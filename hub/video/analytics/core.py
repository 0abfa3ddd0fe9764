"""The analytics core: batched motion for many cameras, then per-camera tracking and rules.

``process`` takes whatever frames the pipeline has collected (any cameras, possibly several
frames of one camera) and splits them into rounds holding at most one frame per camera, in time
order. Each round runs motion once per image-size group (one set of OpenCV calls for all its
cameras); only tracking and rules, which depend on the few objects in view, run per camera.

With a camera's ``detector`` on, a person detector confirms and classifies what moves: after
motion, each camera that is due for a look (something moves or a person is tracked, within its
``detect_fps``) gets square crops around the moving areas and tracked people (``crops.plan``); the
crops of all cameras in the round go through the model in one batch; people are tracked by
``PersonTracker`` and blobs not on people by the motion ``Tracker``, classed vehicle or unknown.

Events that last (intrusion, loitering) start in ``FrameResult.events`` and end, with the same
id, in ``FrameResult.ended`` of a later frame; ``close_events`` ends what is still open when a
stream stops or is lost, ``remove_camera`` when a camera goes away.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import count

import cv2
import numpy as np

from hub.config import Camera
from hub.video.analytics import crops
from hub.video.analytics.classify import classify, covered_by, not_on_people
from hub.video.analytics.detector import Detection, PersonDetector
from hub.video.analytics.events import EventDetector, detectors_for
from hub.video.analytics.motion import LIGHTING_SHARPNESS_LATE, GhostCheck, MotionGroup
from hub.video.analytics.person_tracker import PersonBox, PersonTracker
from hub.video.analytics.rules import CameraRules, polygon_mask
from hub.video.analytics.tracker import MIN_HITS, Box, Track, Tracker
from hub.video.analytics.types import AnalysisFrame, FrameResult, RawEvent, TrackedObject

log = logging.getLogger(__name__)

GHOST_CHECK_HITS = (MIN_HITS, MIN_HITS + 3)
GHOST_RECHECK_HITS = 10
"""...and every this many hits after, while an unclassified blob stays still: a light change
that grows slowly (a cloud's shadow drifting off the ground it darkened) is not still, and so
not checked, at the first two."""
IDLE_LOOK_SECONDS = 20.0
"""A camera where nothing moves still gets a detector look this often (a person standing
still since before the stream started)."""
COAST_SECONDS = 0.4
"""A person the detector missed is still shown at the predicted place this long..."""
COAST_MIN_HITS = 2
"""...if the track was detected this many times (a steady track, not a flicker)."""
PERSON_MEMORY = 1.5
MAX_BATCH = 8
"""Crops per forward pass (bounds the blob's memory; larger batches gain nothing on CPU)."""
MAX_DETECTOR_BURST = 0.25
"""Seconds of detector time a round may take at most when it has a share: the most a frame
can wait behind the detector."""


HIDDEN_COVER = 0.6
"""An unseen person's last box this much covered by what is seen now is hidden there."""


def hide_people(tracker: PersonTracker, persons: list[Track], blobs: list[Track], t: float) -> None:
    """Unseen people who stood still where motion or another person is still seen: hidden in
    a group (two people overlapping at one spot, the detector finds one or neither), not gone.
    They stay counted at their last box; the rules, which take only observed positions, do not
    move them."""
    seen = [b.box for b in blobs if b.updated] + [p.box for p in persons if p.updated]
    if not seen:
        return
    for tr in persons:
        if tr.updated or not tr.confirmed or not tr.still:
            continue
        if covered_by(tr.box, seen) >= HIDDEN_COVER:
            tracker.hide(tr, t)


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
    people: PersonTracker | None = None
    """Set while the camera's detector runs."""
    detectors: list[EventDetector] = field(default_factory=list)
    """Tampering, crowd, abandoned objects and parking, fire and smoke (as configured)."""
    last_look: float | None = None
    ids: Iterator[int] = field(default_factory=lambda: count(1))
    """Track ids shared by the person and the motion trackers (one id space per camera)."""


@dataclass(slots=True)
class DetectorStats:
    """Counters since the core was made (read by metrics and benchmarks)."""

    looks: int = 0
    """Camera-frames the detector looked at."""
    deferred: int = 0
    """Looks due but put off to a later round by the detector's share of time."""
    crops: int = 0
    detector_seconds: float = 0.0


@dataclass(slots=True)
class _Look:
    """One camera's detector look in a round: its crops and what they found."""

    squares: list[crops.Square]
    view_width: int
    view_height: int
    scale: float
    """Analysis pixels per view pixel."""
    found: list[tuple[int, Detection]] = field(default_factory=list)


def confidence(tr: Track, height: int) -> float:
    """0..1 from how long the track has held (stability) and how large it is."""
    stability = min(tr.hits, 6) / 6.0
    size = min(tr.box[3] / (0.12 * height), 1.0)
    return round(0.35 + 0.45 * stability + 0.2 * size, 3)


class AnalyticsCore:
    """Not thread-safe: call from one worker thread at a time. Never touches asyncio."""

    def __init__(
        self,
        cameras: Iterable[Camera] = (),
        detector: Callable[[], PersonDetector] = PersonDetector,
        detector_share: float | None = None,
    ) -> None:
        """``detector_share``: the fraction of wall time the person detector may take in this
        core's thread (live analysis); None: no limit (offline analysis, tests)."""
        self.detector_share = detector_share
        self.stats = DetectorStats()
        self._tokens = MAX_DETECTOR_BURST
        self._budget_at: float | None = None
        self._crop_seconds = 0.05
        self._cams: dict[str, _CameraState] = {}
        self._groups: dict[tuple[int, int], MotionGroup] = {}
        self._make_detector = detector
        self._detector: PersonDetector | None = None
        self._detector_failed = False
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
        ids = count(1)
        st = _CameraState(camera, Tracker(memory_seconds=memory, ids=ids), ids=ids)
        if camera.detector == "person" and self._load_detector() is not None:
            st.people = PersonTracker(max(PERSON_MEMORY, 1.5 / camera.detect_fps), ids)
        self._cams[camera.id] = st

    def _load_detector(self) -> PersonDetector | None:
        if self._detector is None and not self._detector_failed:
            try:
                self._detector = self._make_detector()
            except Exception:
                # Motion still works: the cameras fall back to it rather than going blind.
                log.exception("person detector unavailable: cameras fall back to motion only")
                self._detector_failed = True
        return self._detector

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
        if st.people is not None:
            st.people.tracks = []
        for d in st.detectors:
            ended += d.close_all()
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
        moved: list[tuple[int, float, list[tuple[int, int, int, int]]]] = []
        for group, slots, members in by_group.values():
            # Slot order lets the group work in place on contiguous runs of its buffers.
            order = sorted(range(len(slots)), key=slots.__getitem__)
            slots = [slots[j] for j in order]
            members = [members[j] for j in order]
            motions = group.process(slots, [frames[i].luma for i in members])
            moved += [(i, m.motion, m.boxes) for i, m in zip(members, motions, strict=True)]
        looks = self._detect(frames, moved)
        for i, motion, boxes in moved:
            f = frames[i]
            st = self._cams[f.camera_id]
            results[i] = self._camera_frame(st, f, motion, boxes, looks.get(i))

    def _due(self, st: _CameraState, t: float, boxes: list[tuple[int, int, int, int]]) -> bool:
        if st.people is None:
            return False
        if st.last_look is None or t < st.last_look:
            return True
        since = t - st.last_look
        if not boxes and not any(st.people.active(tr, t) for tr in st.people.tracks):
            return since >= IDLE_LOOK_SECONDS
        # A little slack: frames arrive at the analysis rate, not exactly on the budget.
        return since >= 1.0 / st.camera.detect_fps - 0.25 / st.camera.analysis_fps

    def _detect(
        self,
        frames: Sequence[AnalysisFrame],
        moved: list[tuple[int, float, list[tuple[int, int, int, int]]]],
    ) -> dict[int, _Look]:
        """Detector looks for the cameras due, every crop of the round in batches.

        With a ``detector_share``, the looks of a round fit the time the detector has earned
        (that share of wall time): the cameras that waited longest go first, the others stay
        due for the next round. Under load each camera is looked at less often, but frames are
        never queued behind the detector, so events are not late.
        """
        due: list[tuple[float, int, list[tuple[int, int, int, int]]]] = []
        for i, _motion, boxes in moved:
            f = frames[i]
            st = self._cams[f.camera_id]
            if self._due(st, f.media_time, boxes):
                waited = math.inf if st.last_look is None else f.media_time - st.last_look
                due.append((waited, i, boxes))
        if not due:
            return {}
        budget = self._refill()
        due.sort(key=lambda d: -d[0])
        looks: dict[int, _Look] = {}
        batch: list[tuple[int, int, np.ndarray]] = []
        planned = 0.0
        for _waited, i, boxes in due:
            f = frames[i]
            st = self._cams[f.camera_id]
            assert st.people is not None
            vw, vh = crops.view_size(f.image, f.luma)
            scale = f.luma.shape[1] / vw
            proposals: list[Box] = [
                (x / scale, y / scale, w / scale, h / scale) for x, y, w, h in boxes
            ]
            for tr in st.people.tracks:
                if not st.people.active(tr, f.media_time):
                    continue
                x, y, w, h = st.people.predicted(tr, f.media_time)
                proposals.append((x / scale, y / scale, w / scale, h / scale))
            squares = crops.plan(proposals, vw, vh) if proposals else crops.full_frame(vw, vh)
            cost = len(squares) * self._crop_seconds
            if budget is not None and planned + cost > budget and proposals:
                # Short of detector time: a look with less detail beats no look.
                squares = crops.plan(proposals, vw, vh, detail=False)
                cost = len(squares) * self._crop_seconds
            if budget is not None and planned + cost > budget and (batch or budget <= 0):
                self.stats.deferred += 1
                continue
            planned += cost
            st.last_look = f.media_time
            view = crops.detector_view(f.image, f.luma)
            looks[i] = _Look(squares, vw, vh, scale)
            batch += [(i, n, crops.cut(view, sq)) for n, sq in enumerate(squares)]
        self.stats.looks += len(looks)
        detector = self._detector
        if not batch or detector is None:
            return looks
        for k in range(0, len(batch), MAX_BATCH):
            part = batch[k : k + MAX_BATCH]
            t0 = time.perf_counter()
            try:
                found = detector.detect([c for _, _, c in part])
            except cv2.error:
                log.exception("person detector failed on %d crops", len(part))
                for i, _, _ in part:
                    looks.pop(i, None)
                continue
            for (i, n, _), dets in zip(part, found, strict=True):
                look = looks.get(i)
                if look is None:
                    continue
                in_view = crops.to_view(dets, look.squares[n], look.view_width, look.view_height)
                look.found += [(n, d) for d in in_view]
            spent = time.perf_counter() - t0
            self._spend(spent, len(part))
        return looks

    def _refill(self) -> float | None:
        """Seconds of detector time available to this round (None: no limit)."""
        if self.detector_share is None:
            return None
        now = time.monotonic()
        if self._budget_at is not None:
            earned = self.detector_share * (now - self._budget_at)
            self._tokens = min(self._tokens + earned, MAX_DETECTOR_BURST)
        self._budget_at = now
        return self._tokens

    def _spend(self, seconds: float, crops_done: int) -> None:
        self.stats.crops += crops_done
        self.stats.detector_seconds += seconds
        # What a crop costs here and now (the machine is shared: it changes).
        self._crop_seconds += 0.2 * (seconds / max(crops_done, 1) - self._crop_seconds)
        if self.detector_share is not None:
            self._tokens -= seconds

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
        for d in st.detectors:
            st.ended = (st.ended or []) + d.close_all()
        st.detectors = detectors_for(cam, height, width)
        st.rules = CameraRules(cam, height, width, classified=st.people is not None)
        st.ghosts = GhostCheck(group, st.slot)
        st.tracker = Tracker(
            memory_seconds=st.tracker.memory_seconds, size=(width, height), ids=st.ids
        )
        if st.people is not None:
            st.people = PersonTracker(st.people.memory_seconds, st.ids, size=(width, height))

    @staticmethod
    def _drop_ghosts(
        st: _CameraState, ghosts: GhostCheck, tracks: list[Track], luma: np.ndarray
    ) -> list[Track]:
        # Checked on confirmation and once more after a second (a ghost uncovered by an object
        # moving away grows at first), only while still: ghosts never move. They are born where
        # something left: the start of the stream, a parked car driving off. A still change of
        # light (a cloud's shadow over the ground) is learned into the background the same way,
        # and looked for again later (only light: a bag just put down where its owner stood
        # can pass for a ghost of the owner once they leave).
        gone: list[Track] = []
        for tr in tracks:
            if not tr.updated or tr.coasting or not tr.still:
                continue
            first = tr.hits in GHOST_CHECK_HITS
            again = tr.kind == "unknown" and tr.hits % GHOST_RECHECK_HITS == 0
            if (
                (first and ghosts.is_ghost(tr.box, luma))
                or (first and ghosts.is_lighting(tr.box, luma))
                or (again and ghosts.is_lighting(tr.box, luma, LIGHTING_SHARPNESS_LATE))
            ):
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
        look: _Look | None = None,
    ) -> FrameResult:
        res = FrameResult(f.camera_id, f.media_time, f.wall_time, motion)
        if st.ended:
            res.ended, st.ended = st.ended, None
        self._track(st, f, boxes, look, res)
        # Every frame, with or without objects: a covered lens or an ended crowd shows on
        # frames where nothing moves.
        for d in st.detectors:
            started, ended = d.update(f.media_time, f.wall_time, f.luma, f.image, res.objects)
            res.events += started
            res.ended += ended
            if st.group is not None and any(e.type == "tampering" for e in ended):
                # The view is back: a turned camera's picture does not differ enough from the
                # right one to re-learn by itself, and its leftovers would be objects for a
                # minute (hiding a loiterer from the detector's crops).
                st.group.relearn(st.slot)
        return res

    def _track(
        self,
        st: _CameraState,
        f: AnalysisFrame,
        boxes: list[tuple[int, int, int, int]],
        look: _Look | None,
        res: FrameResult,
    ) -> None:
        rules = st.rules
        assert rules is not None
        people = st.people
        if not boxes and not st.tracker.tracks and look is None and not (people and people.tracks):
            if rules.pending:
                res.ended += rules.expire(f.media_time)
            return
        t = f.media_time
        h, w = rules.height, rules.width
        persons: list[Track] = []
        people_boxes: list[Box] = []
        if people is not None:
            dets = None
            if look is not None:
                k = look.scale
                dets = [
                    PersonBox((x * k, y * k, bw * k, bh * k), d.score)
                    for d in crops.dedupe(look.found)
                    for x, y, bw, bh in (d.box,)
                ]
            persons = people.update(t, dets)
            people_boxes = [
                tr.box if tr.updated else people.predicted(tr, t)
                for tr in persons
                if people.active(tr, t)
            ]
            boxes = not_on_people(boxes, people_boxes)
        blobs = st.tracker.update(t, boxes)
        if st.ghosts is not None:
            blobs = self._drop_ghosts(st, st.ghosts, blobs, f.luma)
        if people is not None:
            for tr in blobs:
                classify(tr, h, people_boxes)
            hide_people(people, persons, blobs, t)
        tracks = persons + blobs
        confs = [tr.score if tr.kind == "person" else confidence(tr, h) for tr in tracks]
        zones_of, res.events, ended = rules.evaluate(t, f.wall_time, tracks, confs)
        if ended:
            res.ended += ended
        looked = look is not None
        for tr, conf, zones in zip(tracks, confs, zones_of, strict=True):
            if not tr.confirmed:
                continue
            box = tr.box
            if tr.kind == "person" and not tr.updated and tr.hidden_at != t:
                assert people is not None
                # Shown where it should be now, briefly: a missed detection, or no look due.
                window = COAST_SECONDS if looked else COAST_SECONDS + 1.0 / st.camera.detect_fps
                if t - tr.last_seen > window or tr.hits < COAST_MIN_HITS:
                    continue
                box = people.predicted(tr, t)
            res.objects.append(
                TrackedObject(
                    track_id=tr.track_id,
                    box=rules.norm(box),
                    zones=list(zones),
                    confidence=round(conf, 3),
                    age_seconds=t - tr.born,
                    velocity=(tr.vx / w, tr.vy / h),
                    kind=tr.kind,
                )
            )
