"""Simulated RTSP cameras: scripted scenes with ground truth, pre-encoding, an RTSP server."""

from simulators.cameras.scenes import SCENE_NAMES, Scene, build_scene, write_scene_video
from simulators.cameras.truth import TruthEvent

__all__ = ["SCENE_NAMES", "Scene", "TruthEvent", "build_scene", "write_scene_video"]
