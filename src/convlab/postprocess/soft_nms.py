"""Soft-NMS (Bodla et al. 2017): instead of dropping overlapping boxes, decay their scores.

Repeatedly take the highest (decayed) score, ties to the lowest index, and multiply each
remaining score by (1 - IoU) when IoU > iou_threshold ("linear") or by exp(-IoU^2 / sigma)
("gaussian"). A box whose score falls to <= score_threshold is dropped; at most top_k are kept.
Kept scores are the decayed ones and come out non-increasing. O(n^2): n is the pre-NMS top-k.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .iou import area, iou_coords, iou_reference

METHODS = {"linear": 0, "gaussian": 1}


def soft_nms_reference(boxes, scores, method: str, iou_threshold: float, sigma: float,
                       score_threshold: float, top_k: int):
    s = scores.astype(np.float64).copy()
    alive = list(range(boxes.shape[0]))
    kept, kept_scores = [], []
    while alive and len(kept) < top_k:
        m = alive[int(np.argmax(s[alive]))]            # argmax returns the first: lowest index on ties
        if not s[m] > score_threshold:
            break
        kept.append(m)
        kept_scores.append(s[m])
        alive.remove(m)
        if not alive:
            break
        ov = iou_reference(boxes[m], boxes[alive])
        if method == "linear":
            decay = np.where(ov > iou_threshold, 1.0 - ov, 1.0)
        else:
            decay = np.array([math.exp(-(o * o) / sigma) for o in ov])
        s[alive] *= decay
        alive = [a for a in alive if s[a] > score_threshold]
    return np.array(kept, np.int64), np.array(kept_scores, np.float32)


@numba.njit(cache=True)
def soft_nms(boxes, scores, method, iou_threshold, sigma, score_threshold, top_k):
    """(kept indices, their decayed float32 scores); method 0 = linear, 1 = gaussian.

    The live candidates are kept compacted, in index order (so the first maximum is the lowest
    index, as in the reference), as float64 columns; decaying and dropping is one pass.
    """
    n = boxes.shape[0]
    idx = np.arange(n)
    s = scores.astype(np.float64)
    x1 = boxes[:, 0].astype(np.float64)
    y1 = boxes[:, 1].astype(np.float64)
    x2 = boxes[:, 2].astype(np.float64)
    y2 = boxes[:, 3].astype(np.float64)
    ar = np.empty(n)
    for i in range(n):
        ar[i] = area(x1[i], y1[i], x2[i], y2[i])
    kept = np.empty(min(n, top_k), np.int64)
    kept_scores = np.empty(min(n, top_k), np.float32)
    n_kept = 0
    live = n
    while n_kept < top_k and live > 0:
        m = 0
        for i in range(1, live):
            if s[i] > s[m]:
                m = i
        if not s[m] > score_threshold:
            break
        kept[n_kept] = idx[m]
        kept_scores[n_kept] = s[m]
        n_kept += 1
        mx1, my1, mx2, my2, ma = x1[m], y1[m], x2[m], y2[m], ar[m]
        w = 0
        for i in range(live):
            if i == m:
                continue
            o = iou_coords(mx1, my1, mx2, my2, ma, x1[i], y1[i], x2[i], y2[i], ar[i])
            si = s[i]
            # exp(-0) and (1 - o) with o <= threshold would multiply by exactly 1: skip the call.
            if method == 0:
                if o > iou_threshold:
                    si *= 1.0 - o
            elif o > 0:
                si *= math.exp(-(o * o) / sigma)
            if si > score_threshold:
                idx[w], s[w], x1[w], y1[w], x2[w], y2[w], ar[w] = idx[i], si, x1[i], y1[i], x2[i], y2[i], ar[i]
                w += 1
        live = w
    return kept[:n_kept].copy(), kept_scores[:n_kept].copy()
