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

from .iou import iou_reference, iou

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
    """(kept indices, their decayed float32 scores); method 0 = linear, 1 = gaussian."""
    n = boxes.shape[0]
    s = scores.astype(np.float64)
    alive = np.ones(n, np.bool_)
    kept = np.empty(min(n, top_k), np.int64)
    kept_scores = np.empty(min(n, top_k), np.float32)
    n_kept = 0
    while n_kept < top_k:
        m = -1
        for i in range(n):
            if alive[i] and (m < 0 or s[i] > s[m]):
                m = i
        if m < 0 or not s[m] > score_threshold:
            break
        kept[n_kept] = m
        kept_scores[n_kept] = s[m]
        n_kept += 1
        alive[m] = False
        for i in range(n):
            if alive[i]:
                o = iou(boxes, m, i)
                if method == 0:
                    if o > iou_threshold:
                        s[i] *= 1.0 - o
                else:
                    s[i] *= math.exp(-(o * o) / sigma)
                if not s[i] > score_threshold:
                    alive[i] = False
    return kept[:n_kept].copy(), kept_scores[:n_kept].copy()
