"""Depthwise 3x3 convolution (groups == C_in == C_out), stride 1 or 2, any padding.

Each channel is its own tiny convolution, so the parallel unit is (image, channel) and the work
per output is just 9 multiply-adds: the point is to load each input once per tap and write each
output once. For the interior columns of a row all 9 taps are in bounds, so they are summed in
one vectorisable expression and stored with the epilogue; the few edge columns (padding) take a
bounds-checked path. Rows above/below the input read a row of zeros, so the interior expression
needs no row checks either.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...registry import Constraints, KernelEntry, pairs, register
from ...spec import ConvSpec
from .epilogue import bias_act, epilogue_args
from .support import numba_threads, tap_range


@njit(inline="always", cache=True, fastmath={"contract"})
def _interior(dst, r0, r1, r2, k, bv, code, sl, s, lo, hi, pl):
    """dst[ox] for ox in [lo, hi), where all 9 taps are in bounds. Called with s a literal 1 or 2 so
    LLVM sees the stride; views and a zero-based counter keep indices provably non-negative (Numba's
    negative-index wraparound would otherwise stop vectorisation)."""
    w00, w01, w02, w10, w11, w12, w20, w21, w22 = (k[0, 0], k[0, 1], k[0, 2], k[1, 0], k[1, 1], k[1, 2],
                                                     k[2, 0], k[2, 1], k[2, 2])
    start = lo * s - pl
    q0, q1, q2, d = r0[start:], r1[start:], r2[start:], dst[lo:hi]
    for t in range(hi - lo):
        ix = t * s
        acc = (w00 * q0[ix] + w01 * q0[ix + 1] + w02 * q0[ix + 2]
               + w10 * q1[ix] + w11 * q1[ix + 1] + w12 * q1[ix + 2]
               + w20 * q2[ix] + w21 * q2[ix + 1] + w22 * q2[ix + 2])
        d[t] = acc
    for t in range(hi - lo):
        d[t] = bias_act(d[t], bv, code, sl)


@njit(inline="always", cache=True, fastmath={"contract"})
def _edge(r0, r1, r2, k, ix):
    """One output whose taps start at input column ix, skipping the taps that fall in the padding."""
    wd = r0.shape[0]
    acc = np.float32(0)
    for j in range(3):
        if 0 <= ix + j < wd:
            acc += k[0, j] * r0[ix + j] + k[1, j] * r1[ix + j] + k[2, j] * r2[ix + j]
    return acc


@njit(cache=True, parallel=True, fastmath={"contract"})
def depthwise3x3(x, w, s, pt, pl, bias, code, slopes, out):
    n, c, h, wd = x.shape
    oh, ow = out.shape[2], out.shape[3]
    zeros = np.zeros(wd, np.float32)
    # Interior columns: all three taps in bounds (tap 0 has the smallest offset, tap 2 the largest).
    lo = tap_range(ow, s, -pl, wd)[0]
    hi = tap_range(ow, s, 2 - pl, wd)[1]
    hi = max(lo, hi)
    for job in prange(n * c):
        b, ch = job // c, job % c
        k = w[ch, 0]
        bv, sl = bias[ch], slopes[ch]
        for oy in range(oh):
            iy = oy * s - pt
            r0 = x[b, ch, iy] if 0 <= iy < h else zeros
            r1 = x[b, ch, iy + 1] if 0 <= iy + 1 < h else zeros
            r2 = x[b, ch, iy + 2] if 0 <= iy + 2 < h else zeros
            dst = out[b, ch, oy]
            if s == 1:
                _interior(dst, r0, r1, r2, k, bv, code, sl, 1, lo, hi, pl)
            else:
                _interior(dst, r0, r1, r2, k, bv, code, sl, 2, lo, hi, pl)
            for ox in range(lo):
                dst[ox] = bias_act(_edge(r0, r1, r2, k, ox * s - pl), bv, code, sl)
            for ox in range(hi, ow):
                dst[ox] = bias_act(_edge(r0, r1, r2, k, ox * s - pl), bv, code, sl)


def prepare(spec: ConvSpec, w, b, threads):
    bias, code, slopes = epilogue_args(spec.activation, b, spec.c_out)
    s, (pt, pl) = spec.stride[0], spec.padding[:2]

    def run(x, out):
        with numba_threads(threads):
            depthwise3x3(x, w, s, pt, pl, bias, code, slopes, out)
    return run


register(KernelEntry("depthwise", "numba", prepare,
                     Constraints(kernel_sizes=pairs(3), strides=pairs(1, 2), dilations=pairs(1), groups="depthwise"),
                     "depthwise 3x3 s1/s2: 9 taps summed in registers per output, bounds-checked edge columns"))
