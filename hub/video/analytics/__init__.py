"""The detection core: motion, tracking, zones, lines and loitering, batched across cameras.

The pipeline reduces each sampled frame to a small luma image (``reduce_luma``) in its decode
thread, then hands batches of ``AnalysisFrame`` to ``AnalyticsCore.process`` in one worker thread.
"""

from hub.video.analytics.core import AnalyticsCore
from hub.video.analytics.reduce import analysis_size, reduce_gray_array, reduce_luma
from hub.video.analytics.types import AnalysisFrame, FrameResult, NormBox, RawEvent, TrackedObject

__all__ = [
    "AnalysisFrame",
    "AnalyticsCore",
    "FrameResult",
    "NormBox",
    "RawEvent",
    "TrackedObject",
    "analysis_size",
    "reduce_gray_array",
    "reduce_luma",
]
