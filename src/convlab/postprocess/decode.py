"""SSD box decoding with variances: offsets relative to priors -> corner boxes (x1, y1, x2, y2).

cx = pcx + l0 * v0 * pw,  cy = pcy + l1 * v0 * ph,  w = pw * exp(l2 * v1),  h = ph * exp(l3 * v1).
The kernel decodes only the selected candidates (a few hundred of thousands of priors), in
float64 arithmetic like the reference, so they differ only by the last bit of exp.
"""
from __future__ import annotations

import math

import numba
import numpy as np


def decode_boxes_reference(loc: np.ndarray, priors: np.ndarray, variances=(0.1, 0.2)) -> np.ndarray:
    l, p = loc.astype(np.float64), priors.astype(np.float64)
    cx = p[:, 0] + l[:, 0] * variances[0] * p[:, 2]
    cy = p[:, 1] + l[:, 1] * variances[0] * p[:, 3]
    w = p[:, 2] * np.exp(l[:, 2] * variances[1])
    h = p[:, 3] * np.exp(l[:, 3] * variances[1])
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)


@numba.njit(cache=True, inline="always")
def _decode_row(loc, priors, i, v0, v1, out, r):
    pw = np.float64(priors[i, 2])
    ph = np.float64(priors[i, 3])
    cx = priors[i, 0] + loc[i, 0] * v0 * pw
    cy = priors[i, 1] + loc[i, 1] * v0 * ph
    w = pw * math.exp(loc[i, 2] * v1)
    h = ph * math.exp(loc[i, 3] * v1)
    out[r, 0] = cx - w / 2
    out[r, 1] = cy - h / 2
    out[r, 2] = cx + w / 2
    out[r, 3] = cy + h / 2


@numba.njit(cache=True)
def decode_selected(loc, priors, idx, v0, v1):
    """Decode rows `idx` of (A, 4) float32 loc/priors -> (len(idx), 4) float32 corner boxes."""
    out = np.empty((idx.shape[0], 4), np.float32)
    for r in range(idx.shape[0]):
        _decode_row(loc, priors, idx[r], v0, v1, out, r)
    return out


@numba.njit(cache=True, parallel=True)
def decode_selected_parallel(loc, priors, idx, v0, v1):
    """`decode_selected` with the rows split across Numba's threads (set by the caller)."""
    out = np.empty((idx.shape[0], 4), np.float32)
    for r in numba.prange(idx.shape[0]):
        _decode_row(loc, priors, idx[r], v0, v1, out, r)
    return out
