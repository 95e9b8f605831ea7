"""Intersection over union of corner boxes (x1, y1, x2, y2), in float64.

Inverted or zero-area boxes have area 0; two boxes whose union is empty have IoU 0 (never NaN),
so degenerate detections are never suppressed by, nor suppress, anything.
"""
from __future__ import annotations

import numba
import numpy as np


def iou_reference(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box with each row of `boxes`, vectorised."""
    a = box.astype(np.float64)
    b = boxes.astype(np.float64)
    area_a = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
    iw = np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0])
    ih = np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1])
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(union), where=union > 0)


@numba.njit(cache=True, inline="always")
def area(x1, y1, x2, y2):
    return max(x2 - x1, 0.0) * max(y2 - y1, 0.0)


@numba.njit(cache=True, inline="always")
def iou_coords(ax1, ay1, ax2, ay2, area_a, bx1, by1, bx2, by2, area_b):
    """Branch-free (selects only) so loops over many boxes vectorise."""
    iw = min(ax2, bx2) - max(ax1, bx1)
    ih = min(ay2, by2) - max(ay1, by1)
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


@numba.njit(cache=True, inline="always")
def iou(boxes, i, j):
    ax1, ay1, ax2, ay2 = np.float64(boxes[i, 0]), np.float64(boxes[i, 1]), np.float64(boxes[i, 2]), np.float64(boxes[i, 3])
    bx1, by1, bx2, by2 = np.float64(boxes[j, 0]), np.float64(boxes[j, 1]), np.float64(boxes[j, 2]), np.float64(boxes[j, 3])
    return iou_coords(ax1, ay1, ax2, ay2, area(ax1, ay1, ax2, ay2), bx1, by1, bx2, by2, area(bx1, by1, bx2, by2))
