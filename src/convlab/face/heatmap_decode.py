"""Anchor-free detector decoding (CenterNet / CenterFace family): heatmap + size + offset (+ 5 landmarks).

Each heatmap cell above the threshold is a candidate face centred in that cell. The two common
dialects differ only in conventions, which `HeatmapDecoding` spells out:

- CenterFace: sizes are log(size / stride), channels ordered (y, x), centre = (cell + offset + 0.5) * stride,
  landmarks are fractions of the box measured from its top-left corner, also (y, x) ordered.
- CenterNet: sizes are in feature-map cells (linear), channels ordered (x, y), centre = (cell + offset) * stride,
  and only local maxima of the heatmap (3x3) count as peaks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ModelSpecError


@dataclass(frozen=True)
class HeatmapDecoding:
    stride: int = 4
    log_size: bool = True        # size channels hold log(size / stride)
    yx_order: bool = True        # size/offset/landmark channels ordered (y, x) instead of (x, y)
    centre_shift: float = 0.5    # added to cell index + offset before scaling by the stride
    local_max: bool = False      # keep only 3x3 local maxima of the heatmap (CenterNet's pseudo-NMS)

    @classmethod
    def centerface(cls) -> "HeatmapDecoding":
        return cls()

    @classmethod
    def centernet(cls) -> "HeatmapDecoding":
        return cls(log_size=False, yx_order=False, centre_shift=0.0, local_max=True)


def _local_maxima(hm: np.ndarray) -> np.ndarray:
    """True where a cell is >= all 8 neighbours (edges padded with -inf)."""
    p = np.pad(hm, 1, constant_values=-np.inf)
    h, w = hm.shape
    neighbours = np.stack([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)])
    return hm >= neighbours.max(0)


def _squeeze_map(a: np.ndarray, channels: int, name: str) -> np.ndarray:
    a = np.asarray(a, np.float32)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise ModelSpecError(f"heatmap decoder: {name} has batch {a.shape[0]}, expected 1")
        a = a[0]
    if a.ndim != 3 or a.shape[0] != channels:
        raise ModelSpecError(f"heatmap decoder: {name} should be (1, {channels}, H, W), got {np.shape(a)}")
    return a


def decode_heatmap(heatmap, size, offset, landmarks=None, *, threshold: float,
                   cfg: HeatmapDecoding = HeatmapDecoding()):
    """Boxes (N, 4) as x1, y1, x2, y2 and scores (N,) in network-input pixels, plus landmarks (N, 5, 2) or None.

    heatmap (1, 1, H, W) holds probabilities (apply the sigmoid before if the model outputs logits).
    """
    hm = _squeeze_map(heatmap, 1, "heatmap")[0]
    sz = _squeeze_map(size, 2, "size")
    off = _squeeze_map(offset, 2, "offset")
    if sz.shape[1:] != hm.shape or off.shape[1:] != hm.shape:
        raise ModelSpecError(f"heatmap decoder: size {sz.shape} / offset {off.shape} do not match heatmap {hm.shape}")
    lm = None if landmarks is None else _squeeze_map(landmarks, 10, "landmarks")
    if lm is not None and lm.shape[1:] != hm.shape:
        raise ModelSpecError(f"heatmap decoder: landmarks {lm.shape} do not match heatmap {hm.shape}")
    keep = hm > threshold
    if cfg.local_max:
        keep &= _local_maxima(hm)
    rows, cols = np.nonzero(keep)
    scores = hm[rows, cols]
    iy, ix = (0, 1) if cfg.yx_order else (1, 0)
    s = cfg.stride
    if cfg.log_size:
        bh, bw = np.exp(sz[iy, rows, cols]) * s, np.exp(sz[ix, rows, cols]) * s
    else:
        bh, bw = sz[iy, rows, cols] * s, sz[ix, rows, cols] * s
    cx = (cols + off[ix, rows, cols] + cfg.centre_shift) * s
    cy = (rows + off[iy, rows, cols] + cfg.centre_shift) * s
    x1, y1 = cx - bw / 2, cy - bh / 2
    boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1).astype(np.float32)
    points = None
    if lm is not None:
        l = lm[:, rows, cols].T.reshape(-1, 5, 2)  # (N, 5, 2) in channel order
        lx, ly = (l[:, :, 1], l[:, :, 0]) if cfg.yx_order else (l[:, :, 0], l[:, :, 1])
        points = np.stack([x1[:, None] + lx * bw[:, None], y1[:, None] + ly * bh[:, None]], axis=2).astype(np.float32)
    return boxes, scores.astype(np.float32), points
