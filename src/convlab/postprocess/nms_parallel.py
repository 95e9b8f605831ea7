"""Greedy NMS with the suppression test run on several threads; keeps exactly what `nms.nms` keeps.

Greedy NMS is sequential (whether box i survives depends on which earlier boxes survived), but
its costly part is not: testing a candidate against the boxes kept *so far*. Candidates are taken
in blocks of `block`. For a block, every candidate is tested against the boxes kept before the
block, in parallel (prange, one candidate per iteration, early exit per candidate); then one
thread walks the block's survivors in order, testing each only against the boxes kept earlier in
the same block. A candidate is kept iff it overlaps no earlier kept box, as in the serial scan.
One parallel region per block (not per kept box) keeps the thread wake-up cost to n / block.
"""
from __future__ import annotations

import numba
import numpy as np

from ..kernels.numba.support import numba_threads
from .iou import area
from .nms import overlaps_kept

BLOCK = 128


@numba.njit(cache=True, parallel=True)
def _nms_blocked(boxes, iou_threshold, top_k, block):
    n = boxes.shape[0]
    cap = min(top_k, n)
    kept = np.empty(cap, np.int64)
    kx1, ky1, kx2, ky2, karea = np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap)
    cx1, cy1, cx2, cy2, carea = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        cx1[i], cy1[i], cx2[i], cy2[i] = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        carea[i] = area(cx1[i], cy1[i], cx2[i], cy2[i])
    hit = np.zeros(block, np.bool_)
    n_kept = 0
    for start in range(0, n, block):
        if n_kept == top_k:
            break
        stop = min(start + block, n)
        before = n_kept
        for r in numba.prange(stop - start):
            i = start + r
            hit[r] = overlaps_kept(kx1, ky1, kx2, ky2, karea, 0, before, cx1[i], cy1[i], cx2[i], cy2[i], carea[i],
                                   iou_threshold)
        for i in range(start, stop):
            if n_kept == top_k:
                break
            if hit[i - start] or overlaps_kept(kx1, ky1, kx2, ky2, karea, before, n_kept,
                                               cx1[i], cy1[i], cx2[i], cy2[i], carea[i], iou_threshold):
                continue
            kept[n_kept] = i
            kx1[n_kept], ky1[n_kept], kx2[n_kept], ky2[n_kept], karea[n_kept] = cx1[i], cy1[i], cx2[i], cy2[i], carea[i]
            n_kept += 1
    return kept[:n_kept].copy()


def nms_parallel(boxes: np.ndarray, iou_threshold: float, top_k: int, threads: int = 2,
                 block: int = BLOCK) -> np.ndarray:
    """Same as `nms.nms(boxes, iou_threshold, top_k)`, the suppression tests on `threads` threads."""
    with numba_threads(threads):
        return _nms_blocked(boxes, float(iou_threshold), int(top_k), int(block))
