"""WebRTC plumbing shared by WHIP ingest (``hub.video.whip``) and dispatch calls (``hub.calls``):
offer checks, taking encoded frames from aiortc receivers, ICE servers."""
