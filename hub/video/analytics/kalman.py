"""A constant-velocity Kalman filter for one box: state (cx, cy, w, h) and their velocities.

Noise scales with the box height (as in SORT/DeepSORT) so near and far people are treated alike,
and time steps are real seconds: cameras analyse at different and uneven rates.
"""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]

# Position noise per unit of height, velocity noise per unit of height per second.
_POS_STD = 0.05
_VEL_STD = 0.4
_MEAS_STD = 0.06


class BoxFilter:
    __slots__ = ("p", "x")

    def __init__(self, box: Box) -> None:
        cx, cy, w, h = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0, box[2], box[3]
        self.x = np.array([cx, cy, w, h, 0.0, 0.0, 0.0, 0.0])
        s = max(h, 1.0)
        self.p = np.diag(
            np.square([2 * _POS_STD * s] * 4 + [10 * _VEL_STD * s] * 2 + [_VEL_STD * s] * 2)
        )

    @property
    def box(self) -> Box:
        cx, cy, w, h = (float(v) for v in self.x[:4])
        w, h = max(w, 1.0), max(h, 1.0)
        return cx - w / 2.0, cy - h / 2.0, w, h

    @property
    def velocity(self) -> tuple[float, float]:
        """Bottom-centre velocity, pixels per second."""
        return float(self.x[4]), float(self.x[5] + self.x[7] / 2.0)

    def predicted(self, dt: float) -> Box:
        """The box ``dt`` seconds ahead, without changing the filter."""
        cx, cy, w, h, vx, vy, vw, vh = (float(v) for v in self.x)
        w, h = max(w + vw * dt, 1.0), max(h + vh * dt, 1.0)
        cx, cy = cx + vx * dt, cy + vy * dt
        return cx - w / 2.0, cy - h / 2.0, w, h

    def predict(self, dt: float) -> None:
        if dt <= 0:
            return
        f = np.eye(8)
        f[0:4, 4:8] = np.eye(4) * dt
        s = max(float(self.x[3]), 1.0)
        q = np.square([_POS_STD * s * dt] * 4 + [_VEL_STD * s * dt] * 4)
        self.x = f @ self.x
        self.p = f @ self.p @ f.T + np.diag(q)

    def update(self, box: Box) -> None:
        z = np.array([box[0] + box[2] / 2.0, box[1] + box[3] / 2.0, box[2], box[3]])
        s = max(box[3], 1.0)
        r = np.diag(np.square([_MEAS_STD * s] * 4))
        hm = np.zeros((4, 8))
        hm[:, :4] = np.eye(4)
        innov = hm @ self.p @ hm.T + r
        k = self.p @ hm.T @ np.linalg.inv(innov)
        self.x = self.x + k @ (z - hm @ self.x)
        self.p = (np.eye(8) - k @ hm) @ self.p

    def stop_growing(self) -> None:
        """Forget the size velocity (a lost person should not keep swelling or shrinking)."""
        self.x[6:8] = 0.0
