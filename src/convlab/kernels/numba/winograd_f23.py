"""Winograd F(2x2, 3x3): each 2x2 output tile from a 4x4 input tile with 16 multiplies per channel
pair instead of 36 (Lavin & Gray 2016).

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A

prepare: U = G g G^T per (out, in) channel pair, computed in float64 and rounded once, stored as
16 matrices (C_out x C_in) packed for the GEMM. run: V = B^T d B for every input tile (padding by
bounds), then 16 GEMMs over channels M[t] = U[t] @ V[t] (gemm.py), then Y = A^T M A plus the
fused bias + activation, writing only the in-bounds part of edge tiles (odd sizes).

Error bound (error_factor). Per channel, output y_ij is sum_t A_ti A_tj U_t V_t. Taking
absolute values of the transforms, each of y's two 1-D factors is bounded by
sum_t |A^T|_it (|G| 1)_t (|B^T| 1)_t = 1*1*2 + 1*1.5*2 + 1*1.5*2 = 8 (both rows of A^T),
against 3 terms for the direct 1-D sum: an amplification of 8/3 per dimension, (8/3)^2 = 7.1 in
2-D, for inputs and weights of comparable magnitude. The rounding steps are the input transform
(3 additions per V value), the GEMM (C_in terms) and the output transform (8 additions): at most
C_in + 12 rounding steps against the direct sum's 9 C_in + 1, a ratio at most 1.3 (C_in = 1).
So |error| <= 7.1 * 1.3 * (9 C_in + 1) * eps * (|w| conv |x|) ~ 9.2 K eps; error_factor = 10.
tests/test_numba_winograd.py checks the bound holds (worst measured error/bound: 0.02 at
C_in = 1, 0.003 at C_in = 4, 1e-4 at C_in = 64) and is tight enough that one transform entry off
by 1e-4 fails it. ``winograd_reference`` below is the plain NumPy statement of the same algorithm.

NaN and Inf. A NaN or Inf input reaches every output whose receptive field holds it, as in the
direct sum; but the transforms mix a whole input tile, so an Inf input can become Inf - Inf = NaN
in the transformed values and the outputs of that tile (and of neighbouring tiles sharing the
input) can be NaN where the direct convolution is finite. Winograd kernels therefore do not
promise finite outputs next to a non-finite input; tests/test_conv_kernels.py states and checks
the spread stays within a tile span. Use a direct or GEMM kernel where that matters.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...activation import ACT_NONE
from ...registry import Constraints, KernelEntry, pairs, register
from ...spec import ConvSpec
from .epilogue import bias_act, epilogue_args
from .gemm import pack_a, sgemm, workspace
from .support import Workspace, numba_threads, tap_range

G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])   # input_transform spells it out
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])                                 # output_transform spells it out
ERROR_FACTOR = 10.0


def transform_weights(w: np.ndarray, g: np.ndarray = G) -> np.ndarray:
    """(C_out, C_in, 3, 3) -> U as 16 matrices (16, C_out, C_in), t = 4 * row + col of G g G^T."""
    u = g @ w.astype(np.float64) @ g.T
    return np.ascontiguousarray(u.reshape(w.shape[0], w.shape[1], 16).transpose(2, 0, 1), np.float32)


def winograd_reference(x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """The algorithm in plain float64 NumPy with the matrices as written (no bias or activation):
    what the Numba transforms and batched GEMM must match."""
    n, c, h, wd = x.shape
    oh, ow = spec.output_hw(h, wd)
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    t, l = spec.padding[:2]
    xp = np.zeros((n, c, 2 * th + 2, 2 * tw + 2))
    xp[:, :, t:t + h, l:l + wd] = x[:, :, :2 * th + 2 - t, :2 * tw + 2 - l]
    d = np.lib.stride_tricks.sliding_window_view(xp, (4, 4), axis=(2, 3))[:, :, ::2, ::2]   # (n, c, th, tw, 4, 4)
    u = G @ w.astype(np.float64) @ G.T
    v = BT @ d @ BT.T
    m = np.einsum("ocab,ncyxab->noyxab", u, v)
    y = (AT @ m @ AT.T).transpose(0, 1, 2, 4, 3, 5).reshape(n, spec.c_out, 2 * th, 2 * tw)
    return y[:, :, :oh, :ow]


@njit(cache=True, parallel=True)
def input_transform(x, pt, pl, th, tw, v):
    """v[t, c, tile] = (B^T d B)[t] for the 4x4 input tile d of every (image, tile row, tile col).

    A tile row at a time: its 4 input rows are copied into a zero-edged row block (padding by
    bounds), B^T is applied down the columns of the block and B along each row, both as loops
    along the row so they vectorise.
    """
    n, c_in, h, w = x.shape
    width = 2 * tw + 2
    lo, hi = tap_range(width, 1, -pl, w)    # block columns holding input columns (col - pl)
    for job in prange(n * c_in):
        b, c = job // c_in, job % c_in
        d = np.zeros((4, width), np.float32)   # columns outside [lo, hi) stay zero: B^T keeps them so
        for ty in range(th):
            for r in range(4):
                iy = 2 * ty - pt + r
                if 0 <= iy < h:
                    d[r, lo:hi] = x[b, c, iy, lo - pl:hi - pl]
                else:
                    d[r, lo:hi] = 0
            e0, e1, e2, e3 = d[0], d[1], d[2], d[3]
            for col in range(width):            # B^T d
                a0, a1, a2, a3 = e0[col], e1[col], e2[col], e3[col]
                e0[col], e1[col], e2[col], e3[col] = a0 - a2, a1 + a2, a2 - a1, a1 - a3
            tile0 = (b * th + ty) * tw
            for r in range(4):                  # (B^T d) B, tile by tile along the row
                e = d[r]
                v0, v1 = v[4 * r, c, tile0:tile0 + tw], v[4 * r + 1, c, tile0:tile0 + tw]
                v2, v3 = v[4 * r + 2, c, tile0:tile0 + tw], v[4 * r + 3, c, tile0:tile0 + tw]
                for tx in range(tw):
                    a0, a1, a2, a3 = e[2 * tx], e[2 * tx + 1], e[2 * tx + 2], e[2 * tx + 3]
                    v0[tx], v1[tx], v2[tx], v3[tx] = a0 - a2, a1 + a2, a2 - a1, a1 - a3


@njit(cache=True, parallel=True)
def output_transform(m, th, tw, bias, code, slopes, out):
    """out[b, o, 2ty:2ty+2, 2tx:2tx+2] = act(A^T M A + bias), clipped to the output's edge.

    A tile row at a time, each step a loop along the row's tiles (vectorised): A^T down the
    columns of M into s, then A along the rows of s into two output rows, then the epilogue
    stores the in-bounds part.
    """
    n, c_out, oh, ow = out.shape
    for job in prange(n * c_out):
        b, o = job // c_out, job % c_out
        s = np.empty((2, 4, tw), np.float32)
        y = np.empty((2, 2 * tw), np.float32)
        for ty in range(th):
            t0 = (b * th + ty) * tw
            for q in range(4):                  # A^T M, column q of every tile
                r0, r1, r2, r3 = (m[q, o, t0:t0 + tw], m[4 + q, o, t0:t0 + tw],
                                  m[8 + q, o, t0:t0 + tw], m[12 + q, o, t0:t0 + tw])
                su, sl = s[0, q], s[1, q]
                for tx in range(tw):
                    su[tx] = r0[tx] + r1[tx] + r2[tx]
                    sl[tx] = r1[tx] - r2[tx] - r3[tx]
            for r in range(2):                  # (A^T M) A
                s0, s1, s2, s3, yr = s[r, 0], s[r, 1], s[r, 2], s[r, 3], y[r]
                for tx in range(tw):
                    yr[2 * tx] = s0[tx] + s1[tx] + s2[tx]
                    yr[2 * tx + 1] = s1[tx] - s2[tx] - s3[tx]
            for r in range(min(2, oh - 2 * ty)):
                dst, yr = out[b, o, 2 * ty + r], y[r]
                for ox in range(ow):
                    dst[ox] = bias_act(yr[ox], bias[o], code, slopes[o])


def prepare_with(spec: ConvSpec, w, b, threads, g=G):
    """prepare, with the weight-transform matrix as a parameter so tests can feed a wrong one."""
    ap = pack_a(transform_weights(w, g))
    bias, code, slopes = epilogue_args(spec.activation, b, spec.c_out)
    none = np.zeros((16, spec.c_out), np.float32)
    pt, pl = spec.padding[:2]
    ws = Workspace()

    def run(x, out):
        n, _, h, wd = x.shape
        oh, ow = spec.output_hw(h, wd)
        th, tw = (oh + 1) // 2, (ow + 1) // 2
        v = ws.get("v", (16, spec.c_in, n * th * tw))
        m = ws.get("m", (16, spec.c_out, n * th * tw))
        with numba_threads(threads):
            input_transform(x, pt, pl, th, tw, v)
            sgemm(ap, spec.c_out, v, m, none, ACT_NONE, none, *workspace(ws, ap, spec.c_in))
            output_transform(m, th, tw, bias, code, slopes, out)
    return run


def prepare(spec: ConvSpec, w, b, threads):
    return prepare_with(spec, w, b, threads)


register(KernelEntry("winograd_f23", "numba", prepare,
                     Constraints(kernel_sizes=pairs(3), strides=pairs(1), dilations=pairs(1), groups="one"),
                     "Winograd F(2x2,3x3): tile transforms + 16 batched Numba SGEMMs over channels",
                     error_factor=ERROR_FACTOR))
