"""im2col + GEMM: unfold the input into a (C_in/g * KH * KW, OH * OW) matrix per group, then one
GEMM per group with the weights as the (C_out/g, C_in/g * KH * KW) left operand.

Two registrations share the unfolding: "im2col" multiplies with convlab's own Numba SGEMM
(gemm.py, bias + activation fused into its store), "im2col_blas" with np.dot (OpenBLAS via
NumPy) followed by a separate epilogue pass, for comparison. A 1x1, stride-1, unpadded conv is
already a GEMM on the input as it lies in memory, so it skips the unfolding.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from threadpoolctl import ThreadpoolController

from ...registry import Constraints, KernelEntry, register
from ...spec import ConvSpec
from .epilogue import bias_act, epilogue_args
from .gemm import pack_a, sgemm, workspace
from .support import Workspace, numba_threads, tap_range


@njit(inline="always", cache=True)
def _gather(dst, src, step):
    """dst[k] = src[k * step]; called with a literal 1 so the unit-stride copy vectorises."""
    for k in range(dst.shape[0]):
        dst[k] = src[k * step]


@njit(cache=True, parallel=True)
def im2col(x, n, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, cols):
    """cols[g, (ci * kh + i) * kw + j, oy * ow + ox] = x[n, g * cig + ci, oy*sh - pt + i*dh, ox*sw - pl + j*dw]
    (zero where that falls in the padding)."""
    groups, rows, _ = cols.shape
    cig = rows // (kh * kw)
    h, w = x.shape[2], x.shape[3]
    for job in prange(groups * rows):
        g, r = job // rows, job % rows
        ci, i, j = r // (kh * kw), (r // kw) % kh, r % kw
        c = g * cig + ci
        lo, hi = tap_range(ow, sw, j * dw - pl, w)
        for oy in range(oh):
            iy = oy * sh - pt + i * dh
            base = oy * ow
            if iy < 0 or iy >= h:
                cols[g, r, base:base + ow] = 0
                continue
            cols[g, r, base:base + lo] = 0
            src, dst = x[n, c, iy, lo * sw + j * dw - pl:], cols[g, r, base + lo:base + hi]
            if sw == 1:
                _gather(dst, src, 1)
            else:
                _gather(dst, src, sw)
            cols[g, r, base + hi:base + ow] = 0


@njit(cache=True, parallel=True)
def apply_epilogue(c, bias, code, slopes):
    """In-place act(c + bias) over (batch, m, n): the separate pass a BLAS GEMM cannot fuse."""
    batch, m, n = c.shape
    for job in prange(batch * m):
        t, r = job // m, job % m
        for j in range(n):
            c[t, r, j] = bias_act(c[t, r, j], bias[t, r], code, slopes[t, r])


def _is_pointwise(spec: ConvSpec) -> bool:
    return spec.kernel_size == (1, 1) and spec.stride == (1, 1) and not any(spec.padding)


def _unfolder(spec: ConvSpec, ws: Workspace):
    """-> cols(x, n): the GEMM's right operand for image n, (groups, K, OH * OW)."""
    g, cig = spec.groups, spec.c_in // spec.groups
    if _is_pointwise(spec):
        return lambda x, n: x[n].reshape(g, cig, -1)
    (sh, sw), (dh, dw), (pt, pl) = spec.stride, spec.dilation, spec.padding[:2]

    def cols(x, n):
        oh, ow = spec.output_hw(x.shape[2], x.shape[3])
        buf = ws.get("cols", (g, cig * spec.kh * spec.kw, oh * ow))
        im2col(x, n, spec.kh, spec.kw, sh, sw, pt, pl, dh, dw, oh, ow, buf)
        return buf
    return cols


def _grouped(spec: ConvSpec, w, b):
    g = spec.groups
    bias, code, slopes = epilogue_args(spec.activation, b, spec.c_out)
    return w.reshape(g, spec.c_out // g, -1), bias.reshape(g, -1), code, slopes.reshape(g, -1)


def prepare_gemm(spec: ConvSpec, w, b, threads):
    wmat, bias, code, slopes = _grouped(spec, w, b)
    ws = Workspace()
    ap, cog, unfold = pack_a(wmat), wmat.shape[1], _unfolder(spec, ws)

    def run(x, out):
        with numba_threads(threads):
            scratch = workspace(ws, ap, wmat.shape[2])
            for n in range(x.shape[0]):
                sgemm(ap, cog, unfold(x, n), out[n].reshape(spec.groups, cog, -1), bias, code, slopes, *scratch)
    return run


_BLAS = ThreadpoolController()


def prepare_blas(spec: ConvSpec, w, b, threads):
    wmat, bias, code, slopes = _grouped(spec, w, b)
    unfold = _unfolder(spec, Workspace())

    def run(x, out):
        with _BLAS.limit(limits=threads, user_api="blas"), numba_threads(threads):
            for n in range(x.shape[0]):
                cols, dst = unfold(x, n), out[n].reshape(spec.groups, wmat.shape[1], -1)
                for g in range(spec.groups):
                    np.dot(wmat[g], cols[g], out=dst[g])
                apply_epilogue(dst, bias, code, slopes)
    return run


register(KernelEntry("im2col", "numba", prepare_gemm, Constraints(),
                     "im2col + blocked Numba SGEMM (MRxKU register blocking, packed panels), fused epilogue; "
                     "1x1 s1 p0 goes straight to GEMM"))
register(KernelEntry("im2col_blas", "numba", prepare_blas, Constraints(),
                     "im2col + np.dot (OpenBLAS) + a separate epilogue pass: the BLAS yardstick"))
