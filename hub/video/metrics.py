"""Prometheus metrics for cameras and analytics, read from the running video services.

One collector is registered once on prometheus_client's default ``REGISTRY`` (what the app
serves at ``/metrics`` with ``generate_latest()``); it asks every live ``CameraService`` for its
figures at scrape time, so the numbers always equal ``VideoService.health()`` and several
services (tests) never clash over metric registration. Metrics, all labelled ``camera``:

* gauges: ``hub_camera_up`` (1 when online), ``hub_camera_fps_in``, ``hub_camera_fps_analysed``,
  ``hub_camera_last_frame_age_seconds``, ``hub_camera_lag_seconds``,
  ``hub_camera_live_viewers``, ``hub_camera_queue_depth``
* counters: ``hub_camera_frames_in_total``, ``hub_camera_frames_analysed_total``,
  ``hub_camera_frames_dropped_total``, ``hub_camera_decode_errors_total``,
  ``hub_camera_reconnects_total``, ``hub_camera_stalls_total``,
  ``hub_camera_frames_skipped_late_total``
* ``hub_camera_state{camera, state}``: 1 for the current state
* unlabelled counters: ``hub_analytics_batches_total``, ``hub_analytics_frames_total``,
  ``hub_analytics_errors_total``, ``hub_video_events_published_total``
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

from hub.bus.contracts import CameraHealth


class MetricsSource(Protocol):
    def health(self) -> list[CameraHealth]: ...

    def metrics_extra(self) -> dict[str, Any]:
        """``per_camera``: {camera: {"live_viewers": n, "queue_depth": n}}; plus totals."""
        ...


_STATES = ("connecting", "online", "stalled", "offline", "disabled")
_COUNTERS = (
    ("frames_in", "Frames decoded"),
    ("frames_analysed", "Frames processed by the analytics core"),
    ("frames_dropped", "Sampled frames dropped because analytics fell behind"),
    ("decode_errors", "Corrupt packets or frames and decoder errors"),
    ("reconnects", "Reconnection attempts"),
    ("stalls", "Times the stream stalled and was reopened"),
    ("frames_skipped_late", "Frames not decoded while catching up with live after falling behind"),
)
_TOTALS = (
    ("hub_analytics_batches", "analytics_batches", "Analytics batches processed"),
    ("hub_analytics_frames", "analytics_frames", "Frames processed by analytics workers"),
    ("hub_analytics_errors", "analytics_errors", "Analytics batches that raised"),
    ("hub_video_events_published", "events_published", "Detection events published"),
    ("hub_detector_looks", "detector_looks", "Camera-frames the person detector looked at"),
    (
        "hub_detector_looks_deferred",
        "detector_deferred",
        "Detector looks put off to a later frame because the detector used its share of time",
    ),
    ("hub_detector_seconds", "detector_seconds", "Time spent in the person detector"),
)


class VideoCollector:
    def __init__(self) -> None:
        self._sources: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, source: MetricsSource) -> None:
        with self._lock:
            self._sources.add(source)

    def remove(self, source: MetricsSource) -> None:
        with self._lock:
            self._sources.discard(source)

    def describe(self) -> list[Any]:
        return []  # dynamic label sets: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        with self._lock:
            sources = list(self._sources)
        up = GaugeMetricFamily("hub_camera_up", "1 when the camera is online", labels=["camera"])
        state = GaugeMetricFamily(
            "hub_camera_state", "1 for the camera's current state", labels=["camera", "state"]
        )
        fps_in = GaugeMetricFamily(
            "hub_camera_fps_in", "Decoded frames per second", labels=["camera"]
        )
        fps_an = GaugeMetricFamily(
            "hub_camera_fps_analysed", "Analysed frames per second", labels=["camera"]
        )
        age = GaugeMetricFamily(
            "hub_camera_last_frame_age_seconds", "Seconds since the last frame", labels=["camera"]
        )
        viewers = GaugeMetricFamily(
            "hub_camera_live_viewers", "Live (fMP4) subscribers", labels=["camera"]
        )
        lag = GaugeMetricFamily(
            "hub_camera_lag_seconds", "Seconds behind the camera's live edge", labels=["camera"]
        )
        depth = GaugeMetricFamily(
            "hub_camera_queue_depth", "Frames waiting for analytics", labels=["camera"]
        )
        counters = {
            key: CounterMetricFamily(f"hub_camera_{key}", doc, labels=["camera"])
            for key, doc in _COUNTERS
        }
        totals = {key: 0.0 for _, key, _ in _TOTALS}
        for src in sources:
            extra = src.metrics_extra()
            per_cam = extra.get("per_camera", {})
            for key in totals:
                totals[key] += float(extra.get(key, 0))
            for h in src.health():
                cam = h.camera_id
                up.add_metric([cam], 1.0 if h.state == "online" else 0.0)
                for s in _STATES:
                    state.add_metric([cam, s], 1.0 if h.state == s else 0.0)
                fps_in.add_metric([cam], h.fps_in)
                fps_an.add_metric([cam], h.fps_analysed)
                lag.add_metric([cam], h.lag_seconds)
                if h.last_frame_age is not None:
                    age.add_metric([cam], h.last_frame_age)
                for key, fam in counters.items():
                    fam.add_metric([cam], float(getattr(h, key)))
                info = per_cam.get(cam, {})
                viewers.add_metric([cam], float(info.get("live_viewers", 0)))
                depth.add_metric([cam], float(info.get("queue_depth", 0)))
        yield from (up, state, fps_in, fps_an, age, lag, viewers, depth)
        yield from counters.values()
        for name, key, doc in _TOTALS:
            yield CounterMetricFamily(name, doc, value=totals[key])


_collector: VideoCollector | None = None
_init_lock = threading.Lock()


def collector() -> VideoCollector:
    """The process-wide collector, registered on the default registry on first use."""
    global _collector
    with _init_lock:
        if _collector is None:
            _collector = VideoCollector()
            REGISTRY.register(_collector)
        return _collector
