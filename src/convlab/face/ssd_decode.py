"""Interim SSD prior boxes and box/landmark decoding (RetinaFace/FaceBoxes convention), plain NumPy,
until the shared post-processing kernels land (convlab.postprocess); then this file goes."""
from __future__ import annotations

import math

import numpy as np


def prior_boxes(input_hw: tuple[int, int], priors: dict) -> np.ndarray:
    """(P, 4) priors as cx, cy, w, h in fractions of the input.

    Order: feature map, row, column, then min_size, then aspect ratio (w/h). `clip` clamps to [0, 1].
    """
    h, w = input_hw
    ratios = priors.get("aspect_ratios", [1.0])
    out = []
    for step, sizes in zip(priors["steps"], priors["min_sizes"]):
        fh, fw = math.ceil(h / step), math.ceil(w / step)
        ys, xs = np.mgrid[0:fh, 0:fw]
        cx = ((xs + 0.5) * step / w).ravel()
        cy = ((ys + 0.5) * step / h).ravel()
        for_cell = [np.stack([cx, cy, np.full_like(cx, s * math.sqrt(r) / w), np.full_like(cy, s / math.sqrt(r) / h)],
                             axis=1) for s in sizes for r in ratios]
        out.append(np.stack(for_cell, axis=1).reshape(-1, 4))
    p = np.concatenate(out)
    if priors.get("clip", False):
        p = np.clip(p, 0.0, 1.0)
    return p.astype(np.float32)


def decode_boxes(loc: np.ndarray, priors: np.ndarray, variances) -> np.ndarray:
    """(P, 4) x1, y1, x2, y2 in fractions of the input."""
    v0, v1 = variances
    centre = priors[:, :2] + loc[:, :2] * v0 * priors[:, 2:]
    size = priors[:, 2:] * np.exp(loc[:, 2:] * v1)
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


def decode_landmarks(pre: np.ndarray, priors: np.ndarray, variances) -> np.ndarray:
    """(P, 5, 2) points in fractions of the input."""
    return priors[:, None, :2] + pre.reshape(-1, 5, 2) * variances[0] * priors[:, None, 2:]
