"""Blocked SGEMM written in Numba, BLIS-style: packing and tiling loops around one small micro-kernel.

    c[t] = act(A[t] @ b[t] + bias[t])   for each t of a batch (groups, Winograd's 16 tile positions)

A is the weight side, so it is packed once at prepare time (``pack_a``); b is packed per block.
Numba leaves LLVM's SLP vectoriser off, so a micro-kernel that keeps an MR x NR tile in scalar
accumulators compiles to scalar code (measured ~7 GFLOP/s on Zen 4). Instead the micro-kernel's
inner loop runs along a row of NC columns, which the loop vectoriser handles, and the register
blocking is across MR rows x KU depth: 16 broadcast A values stay in registers, and each C vector
is loaded and stored once per KU multiply-adds instead of once per multiply-add. Measured in
process CPU time on the shared Zen 4 machine, one thread: the micro-kernel alone ~60-95 GFLOP/s
(NC-dependent), the whole sgemm ~45-50 GFLOP/s at conv sizes, OpenBLAS (np.dot) ~80-90.
Packing b was measured against reading its rows in place: no difference within the noise;
the KC/NC values below were the best of a small sweep (64..512 x 128..1024).

Determinism: work is split over (batch, column block) only, never over the depth k, so every
output is summed in the same order whatever the thread count.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .epilogue import bias_act

MR = 4     # rows of A per micro-kernel pass (with KU: 16 broadcast scalars in registers)
KU = 4     # depth steps unrolled per pass: one load + store of C per KU multiply-adds
NC = 512   # columns per block: the MR x NC C strip (8 KB) stays in L1; long rows amortise loop overhead
KC = 64    # depth per block: the packed KC x NC b block (128 KB) stays in L2


def pack_a(a: np.ndarray) -> np.ndarray:
    """(batch, m, k) -> (batch, ceil(m / MR), k, MR): each MR-row panel depth-major, rows zero-padded."""
    batch, m, k = a.shape
    panels = -(-m // MR)
    padded = np.zeros((batch, panels * MR, k), np.float32)
    padded[:, :m] = a
    return np.ascontiguousarray(padded.reshape(batch, panels, MR, k).transpose(0, 1, 3, 2))


@njit(cache=True, fastmath={"contract"})
def _micro(kc, ap, panel, p0, bp, acc, r0, nc):
    """acc[r0:r0 + MR, :nc] += ap[panel, p0:p0 + kc].T @ bp[:kc, :nc]."""
    p = 0
    while p + KU <= kc:
        q = p0 + p
        a00, a01, a02, a03 = ap[panel, q, 0], ap[panel, q + 1, 0], ap[panel, q + 2, 0], ap[panel, q + 3, 0]
        a10, a11, a12, a13 = ap[panel, q, 1], ap[panel, q + 1, 1], ap[panel, q + 2, 1], ap[panel, q + 3, 1]
        a20, a21, a22, a23 = ap[panel, q, 2], ap[panel, q + 1, 2], ap[panel, q + 2, 2], ap[panel, q + 3, 2]
        a30, a31, a32, a33 = ap[panel, q, 3], ap[panel, q + 1, 3], ap[panel, q + 2, 3], ap[panel, q + 3, 3]
        for j in range(nc):
            b0, b1, b2, b3 = bp[p, j], bp[p + 1, j], bp[p + 2, j], bp[p + 3, j]
            acc[r0, j] += a00 * b0 + a01 * b1 + a02 * b2 + a03 * b3
            acc[r0 + 1, j] += a10 * b0 + a11 * b1 + a12 * b2 + a13 * b3
            acc[r0 + 2, j] += a20 * b0 + a21 * b1 + a22 * b2 + a23 * b3
            acc[r0 + 3, j] += a30 * b0 + a31 * b1 + a32 * b2 + a33 * b3
        p += KU
    while p < kc:  # depth remainder, one step at a time
        q = p0 + p
        a0, a1, a2, a3 = ap[panel, q, 0], ap[panel, q, 1], ap[panel, q, 2], ap[panel, q, 3]
        for j in range(nc):
            bv = bp[p, j]
            acc[r0, j] += a0 * bv
            acc[r0 + 1, j] += a1 * bv
            acc[r0 + 2, j] += a2 * bv
            acc[r0 + 3, j] += a3 * bv
        p += 1


@njit(cache=True)
def _pack_b(b, p0, kc, j0, nc, bp):
    for p in range(kc):
        src, dst = b[p0 + p, j0:j0 + nc], bp[p]   # views: zero-based indices, so it vectorises
        for j in range(nc):
            dst[j] = src[j]


def workspace(ws, ap: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-thread packed-b and accumulator blocks for sgemm, kept in the plan's Workspace ``ws``.
    Call it under the thread count sgemm will run with."""
    t = numba.get_num_threads()
    return ws.get("gemm_b", (t, min(KC, k), NC)), ws.get("gemm_acc", (t, ap.shape[1] * MR, NC))


@njit(cache=True, parallel=True)
def sgemm(ap, m, b, c, bias, code, slopes, bpack, accs):
    """c[t, :m] = act(A[t] @ b[t] + bias[t]) with A given as pack_a(A).

    b: (batch, k, n), c: (batch, >= m, n), bias and slopes: (batch, m), all C-contiguous float32;
    bpack, accs: per-thread scratch from workspace().
    """
    batch, k, n = b.shape
    panels = ap.shape[1]
    nblocks = (n + NC - 1) // NC
    for job in prange(batch * nblocks):
        t = job // nblocks
        j0 = (job % nblocks) * NC
        nc = min(NC, n - j0)
        bp, acc = bpack[numba.get_thread_id()], accs[numba.get_thread_id()]
        acc[:, :nc] = 0
        for p0 in range(0, k, KC):
            kc = min(KC, k - p0)
            _pack_b(b[t], p0, kc, j0, nc, bp)
            for panel in range(panels):
                _micro(kc, ap[t], panel, p0, bp, acc, panel * MR, nc)
        for r in range(m):
            dst, src = c[t, r, j0:j0 + nc], acc[r]   # views: zero-based indices, so it vectorises
            for j in range(nc):
                dst[j] = bias_act(src[j], bias[t, r], code, slopes[t, r])


def sgemm_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The plain version sgemm must match: float64 batched matmul."""
    return np.matmul(a.astype(np.float64), b.astype(np.float64))
