"""Greedy non-maximum suppression with an IoU threshold, keeping at most top_k (TOP_K) boxes.

Boxes arrive sorted best first (from `topk.select_top_k`). A box is kept if its IoU with every
box kept so far is <= iou_threshold; the scan stops once top_k are kept. Comparing against the
kept list only (as Caffe's SSD DetectionOutput does) costs O(n * top_k), not O(n^2).
"""
from __future__ import annotations

import numba
import numpy as np

from .iou import area, iou_coords, iou_reference

# Kept boxes are compared in blocks of this many without an early exit, so the block loop
# vectorises; the exit test runs once per block.
_BLOCK = 32


def nms_reference(boxes: np.ndarray, iou_threshold: float, top_k: int) -> np.ndarray:
    kept: list[int] = []
    for i in range(boxes.shape[0]):
        if len(kept) == top_k:
            break
        if not kept or np.all(iou_reference(boxes[i], boxes[kept]) <= iou_threshold):
            kept.append(i)
    return np.array(kept, np.int64)


@numba.njit(cache=True, inline="always")
def overlaps_kept(kx1, ky1, kx2, ky2, karea, lo, hi, x1, y1, x2, y2, a, iou_threshold):
    """Whether box (x1, y1, x2, y2) of area a overlaps a kept box lo..hi-1 by IoU > iou_threshold."""
    suppressed = False
    for start in range(lo, hi, _BLOCK):
        for k in range(start, min(start + _BLOCK, hi)):
            suppressed |= iou_coords(kx1[k], ky1[k], kx2[k], ky2[k], karea[k], x1, y1, x2, y2, a) > iou_threshold
        if suppressed:
            break
    return suppressed


@numba.njit(cache=True)
def nms(boxes, iou_threshold, top_k):
    """Indices (int64, ascending = best first) of the boxes kept from (n, 4) float32 `boxes`."""
    cap = min(top_k, boxes.shape[0])
    kept = np.empty(cap, np.int64)
    # Kept boxes as float64 columns with their areas: contiguous loads in the hot loop.
    kx1, ky1, kx2, ky2, karea = np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap)
    n_kept = 0
    for i in range(boxes.shape[0]):
        if n_kept == top_k:
            break
        x1, y1, x2, y2 = np.float64(boxes[i, 0]), np.float64(boxes[i, 1]), np.float64(boxes[i, 2]), np.float64(boxes[i, 3])
        a = area(x1, y1, x2, y2)
        if not overlaps_kept(kx1, ky1, kx2, ky2, karea, 0, n_kept, x1, y1, x2, y2, a, iou_threshold):
            kept[n_kept] = i
            kx1[n_kept], ky1[n_kept], kx2[n_kept], ky2[n_kept], karea[n_kept] = x1, y1, x2, y2, a
            n_kept += 1
    return kept[:n_kept].copy()
