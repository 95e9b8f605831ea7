"""Direct convolution: the loop nest itself, with the innermost loop along an output row.

The parallel, independent unit is (image, group, block of OB output channels). For each output
row, every input channel and kernel tap adds one scaled input row segment to OB accumulator rows
at once: the input is loaded once for OB multiply-adds, and the per-tap loop overhead (short rows
are common) is paid once per OB channels. The inner loop is contiguous in the output (and in the
input at stride 1, which gets its own inlined copy so LLVM sees unit stride and vectorises).
Padding is handled by each tap touching only the in-bounds segment of the row (tap_range), never
by a padded copy of the input.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...registry import Constraints, KernelEntry, register
from ...spec import ConvSpec
from .epilogue import bias_act, epilogue_args
from .support import numba_threads, tap_range

OB = 4   # output channels per block (_taps is written out for 4)


def block_weights(spec: ConvSpec, w: np.ndarray) -> np.ndarray:
    """(C_out, cig, KH, KW) -> (groups, blocks, cig, KH, KW, OB), output channels zero-padded per group."""
    g, cog = spec.groups, spec.c_out // spec.groups
    blocks = -(-cog // OB)
    wp = np.zeros((g, blocks * OB) + w.shape[1:], np.float32)
    wp[:, :cog] = w.reshape((g, cog) + w.shape[1:])
    return np.ascontiguousarray(wp.reshape((g, blocks, OB) + w.shape[1:]).transpose(0, 1, 3, 4, 5, 2))


@njit(inline="always", cache=True, fastmath={"contract"})
def _taps(acc, wv, src, sw, off, lo, hi):
    """acc[r, ox] += wv[r] * src[ox * sw + off] for the OB rows, ox in [lo, hi)."""
    w0, w1, w2, w3 = wv[0], wv[1], wv[2], wv[3]
    # Views and a zero-based counter: indices LLVM can prove non-negative, so Numba's negative-index
    # wraparound folds away and the addresses stay affine; indexed by ox, the loop stays scalar (3.5x slower).
    s = src[lo * sw + off:]
    a0, a1, a2, a3 = acc[0, lo:hi], acc[1, lo:hi], acc[2, lo:hi], acc[3, lo:hi]
    for k in range(hi - lo):
        v = s[k * sw]
        a0[k] += w0 * v
        a1[k] += w1 * v
        a2[k] += w2 * v
        a3[k] += w3 * v


@njit(cache=True, parallel=True, fastmath={"contract"})
def direct_conv(x, wp, cog, sh, sw, pt, pl, dh, dw, bias, code, slopes, out):
    n, _, h, wd = x.shape
    groups, blocks, cig, kh, kw, _ = wp.shape
    oh, ow = out.shape[2], out.shape[3]
    lo, hi = np.empty(kw, np.int64), np.empty(kw, np.int64)
    for j in range(kw):
        lo[j], hi[j] = tap_range(ow, sw, j * dw - pl, wd)
    for job in prange(n * groups * blocks):
        b, g, blk = job // (groups * blocks), (job // blocks) % groups, job % blocks
        acc = np.empty((OB, ow), np.float32)
        for oy in range(oh):
            acc[:] = 0
            for ci in range(cig):
                src_c = x[b, g * cig + ci]
                for i in range(kh):
                    iy = oy * sh - pt + i * dh
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        if sw == 1:
                            _taps(acc, wp[g, blk, ci, i, j], src_c[iy], 1, j * dw - pl, lo[j], hi[j])
                        else:
                            _taps(acc, wp[g, blk, ci, i, j], src_c[iy], sw, j * dw - pl, lo[j], hi[j])
            for r in range(min(OB, cog - blk * OB)):
                oc = g * cog + blk * OB + r
                for ox in range(ow):
                    out[b, oc, oy, ox] = bias_act(acc[r, ox], bias[oc], code, slopes[oc])


def prepare(spec: ConvSpec, w, b, threads):
    wp = block_weights(spec, w)
    bias, code, slopes = epilogue_args(spec.activation, b, spec.c_out)
    (sh, sw), (dh, dw), (pt, pl) = spec.stride, spec.dilation, spec.padding[:2]
    cog = spec.c_out // spec.groups

    def run(x, out):
        with numba_threads(threads):
            direct_conv(x, wp, cog, sh, sw, pt, pl, dh, dw, bias, code, slopes, out)
    return run


register(KernelEntry("direct", "numba", prepare, Constraints(),
                     f"direct loop nest, {OB} output channels per row pass, row-vectorised, padding by bounds"))
