"""`hub analyze` on real encoded files: JSON lines, snapshots, keyframe-only decode, bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from hub.config import Camera
from hub.errors import SourceError
from hub.video.analyze import analyze_file

W, H, FPS = 320, 180, 10
ZONE = {"id": "z", "polygon": [[0.4, 0.4], [0.8, 0.4], [0.8, 0.95], [0.4, 0.95]]}


def _camera(**kw) -> Camera:
    base = {
        "id": "cam-a",
        "name": "a",
        "url": "a.mp4",
        "grid": "g1",
        "position": [0.0, 0.0],
        "zones": [ZONE],
        "detector": "off",
        **kw,
    }
    return Camera.model_validate(base)


def _write_video(path: Path, seconds: float = 6.0) -> Path:
    """A bright box walking right over a textured background; enters the zone at t = 2.0."""
    rng = np.random.default_rng(0)
    bg = rng.integers(60, 140, (H // 10, W // 10, 3), dtype=np.uint8)
    bg = np.kron(bg, np.ones((10, 10, 1), np.uint8))
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        st.options = {"g": str(FPS), "bf": "0", "preset": "ultrafast", "crf": "18"}
        for i in range(int(seconds * FPS)):
            t = i / FPS
            img = bg.copy()
            cx = (0.2 + 0.1 * t) * W
            x0, x1 = int(cx - 0.025 * W), int(cx + 0.025 * W)
            img[int(0.55 * H) : int(0.8 * H), x0:x1] = 230
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_video(tmp_path_factory.mktemp("vid") / "walk.mp4")


def test_json_lines_frames_and_event_with_snapshot(video: Path, tmp_path: Path) -> None:
    buf = io.StringIO()
    n = analyze_file(video, _camera(), buf, as_json=True, snapshot_dir=tmp_path)
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    frames = [r for r in rows if r["kind"] == "frame"]
    events = [r for r in rows if r["kind"] == "event"]
    assert n == len(events) == 1
    assert len(frames) == pytest.approx(6.0 * 5, abs=1)  # sampled to analysis_fps 5
    ev = events[0]
    assert ev["type"] == "intrusion" and ev["zone_id"] == "z"
    assert ev["media_time"] == pytest.approx(2.0, abs=0.25)
    assert 0 < ev["confidence"] <= 1 and len(ev["box"]) == 4
    assert (tmp_path / ev["snapshot"]).stat().st_size > 1000
    with_objects = [f for f in frames if f["objects"]]
    assert with_objects and set(with_objects[-1]["objects"][0]) == {"track_id", "box", "zones"}
    # Still inside when the file ends: the intrusion ends there, at its last sighting.
    (end,) = [r for r in rows if r["kind"] == "event_end"]
    assert end["id"] == ev["id"] and end["type"] == "intrusion" and ev["end_media_time"] is None
    assert end["media_time"] == ev["media_time"]
    assert end["end_media_time"] == pytest.approx(frames[-1]["media_time"], abs=0.21)
    assert set(end) == {"kind", "id", "type", "media_time", "end_media_time", "dwell_seconds"}
    assert rows[-1] == end


def test_event_end_when_the_object_leaves(tmp_path: Path) -> None:
    # 9 s: the box leaves the zone (x = 0.8) at t = 6 and walks on; the end follows in the file.
    video = _write_video(tmp_path / "long.mp4", seconds=9.0)
    buf = io.StringIO()
    analyze_file(video, _camera(), buf, as_json=True, snapshot_dir=None)
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    (ev,) = [r for r in rows if r["kind"] == "event"]
    (end,) = [r for r in rows if r["kind"] == "event_end"]
    assert end["id"] == ev["id"]
    assert end["end_media_time"] == pytest.approx(6.0, abs=0.3)
    text = io.StringIO()
    analyze_file(video, _camera(), text, as_json=False, snapshot_dir=None)
    lines = text.getvalue().splitlines()
    assert len(lines) == 2 and "intrusion end" in lines[1] and "zone=z" in lines[1]


def test_text_output_and_keyframes_only(video: Path) -> None:
    buf = io.StringIO()
    # One keyframe per second: the zone still sees the object inside on consecutive keyframes.
    cam = _camera(analysis_fps=1, zones=[{**ZONE, "inertia_frames": 1}])
    assert cam.decode_keyframes_only
    n = analyze_file(video, cam, buf, as_json=False, snapshot_dir=None)
    assert n == 1
    assert "intrusion" in buf.getvalue() and "zone=z" in buf.getvalue()


def test_bad_inputs_raise_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such video file"):
        analyze_file(
            tmp_path / "missing.mp4", _camera(), io.StringIO(), as_json=True, snapshot_dir=None
        )
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video at all")
    with pytest.raises(SourceError, match="cannot open"):
        analyze_file(junk, _camera(), io.StringIO(), as_json=True, snapshot_dir=None)


def _site(tmp_path: Path, cam: dict) -> Path:
    site = {
        "site": {"name": "t"},
        "district": {
            "id": "d",
            "name": "d",
            "streets": [
                {
                    "id": "s",
                    "name": "s",
                    "communities": [
                        {
                            "id": "c",
                            "name": "c",
                            "grids": [
                                {
                                    "id": "g1",
                                    "name": "g",
                                    "geometry": {
                                        "type": "Polygon",
                                        "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]],
                                    },
                                }
                            ],
                        }
                    ],
                }
            ],
        },
        "cameras": [cam],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True))
    return path


def test_cli_exit_codes(video: Path, tmp_path: Path) -> None:
    site = _site(tmp_path, _camera().model_dump(mode="json"))
    cmd = [sys.executable, "-m", "hub", "analyze", "--site", str(site), "--camera", "cam-a"]
    ok = subprocess.run([*cmd, str(video), "--json"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert any(json.loads(x)["kind"] == "event" for x in ok.stdout.splitlines())
    bad = subprocess.run(
        [*cmd, str(tmp_path / "nope.mp4")], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "no such video file" in bad.stderr
