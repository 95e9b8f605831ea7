"""Greedy non-maximum suppression with an IoU threshold, keeping at most top_k (TOP_K) boxes.

Boxes arrive sorted best first (from `topk.select_top_k`). A box is kept if its IoU with every
box kept so far is <= iou_threshold; the scan stops once top_k are kept. Comparing against the
kept list only (as Caffe's SSD DetectionOutput does) costs O(n * top_k), not O(n^2).
"""
from __future__ import annotations

import numba
import numpy as np

from .iou import iou, iou_reference


def nms_reference(boxes: np.ndarray, iou_threshold: float, top_k: int) -> np.ndarray:
    kept: list[int] = []
    for i in range(boxes.shape[0]):
        if len(kept) == top_k:
            break
        if not kept or np.all(iou_reference(boxes[i], boxes[kept]) <= iou_threshold):
            kept.append(i)
    return np.array(kept, np.int64)


@numba.njit(cache=True)
def nms(boxes, iou_threshold, top_k):
    """Indices (int64, ascending = best first) of the boxes kept from (n, 4) float32 `boxes`."""
    kept = np.empty(min(top_k, boxes.shape[0]), np.int64)
    n_kept = 0
    for i in range(boxes.shape[0]):
        if n_kept == top_k:
            break
        keep = True
        for k in range(n_kept):
            if iou(boxes, kept[k], i) > iou_threshold:
                keep = False
                break
        if keep:
            kept[n_kept] = i
            n_kept += 1
    return kept[:n_kept].copy()
