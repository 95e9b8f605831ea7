"""Winograd F(2x2,3x3), F(4x4,3x3), F(6x6,3x3) in C (csrc/winograd*.c): tile transforms over the
vector layer (AVX-512/AVX2/NEON by cpuid, scalar fallback), alpha^2 batched GEMMs on the packed
GEMM of csrc/gemm.c, bias + activation fused in the output transform.

Error factors. Winograd computes y = A^T [sum_c (G g_c G^T) . (B^T d_c B)] A, so rounding acts on
the transformed values, which are larger than the products of the direct sum. To first order the
error of an output is at most (c_in + t) * eps * sum_{i,j} |A^T_pi||A^T_qj| (|G||g||G^T|)_ij
(|B^T||d||B|)_ij, with t ~ 12 roundings in the transforms. For inputs and weights of equal
magnitude that is rho = max_p (sum_j |A^T_pj| |G_j|_1 |B^T_j|_1)^2 / 9 times the direct bound's
sum |g||d|: rho = 7.1 (F(2,3)), 256 (F(4,3)), 509 (F(6,3)). Against the oracle's K = 9 c_in + 1
that is a factor of rho (c_in + 12) / (9 c_in + 1): 9.2 / 333 / 661 at c_in = 1, falling to
rho / 9 for many channels (`rigorous_factor`). Rounding errors of random sign add like a random
walk, so the measured error is smaller: over 1500 random normal convs with c_in = 1..2 and
padding 0..3 (the worst case: few taps per output) the largest ratio to the factor-1 oracle
bound was 40 (F(4,3)) and 66 (F(6,3)); 1.7 for F(2,3) over 300. The registered factors are those
maxima with a margin of about 4x (defined in csrc/include/cl_winograd.h) (the tail falls off roughly as ratio^-4, so a 4x margin makes a
spurious failure of the generic tests' 60 examples very unlikely), still below the first-order
worst case; tests check the margin and that a transform constant off by 1% is caught. Outputs whose window sees one input row or
column (padding >= 2) are computed directly by the C code: by cancellation in a tile their error
would be that of the neighbouring outputs against an exact value with 3 taps, which no
per-element factor covers.

NaN and Inf. A NaN or Inf input reaches every output whose receptive field holds it, as in the
direct sum; but the transforms mix a whole input tile, so an Inf input can become Inf - Inf = NaN
in the transformed values and the outputs of that tile (and of neighbouring tiles sharing the
input) can be NaN where the direct convolution is finite. Winograd kernels therefore do not
promise finite outputs next to a non-finite input; tests/test_conv_kernels.py states and checks
the spread stays within a tile span. Use a direct or GEMM kernel where that matters.
"""
from __future__ import annotations

import numpy as np

from ...registry import Constraints, KernelEntry, pairs, register
from . import _ffi

# Defined once, in csrc/include/cl_winograd.h (CL_WINOGRAD_F*3_ERROR_FACTOR), which the C test reads too.
# Without the compiled library the kernels are unavailable and never run, so no factor is needed.
ERROR_FACTORS = {} if _ffi.unavailable() else {m: float(_ffi.lib.cl_winograd_error_factor(m)) for m in (2, 4, 6)}


def matrices(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A^T, G, B^T) of F(m, 3) exactly as the C kernels use them."""
    ffi, lib = _ffi.ffi, _ffi.lib
    a = m + 2
    at, g, bt = ffi.new(f"double[{m * a}]"), ffi.new(f"double[{a * 3}]"), ffi.new(f"double[{a * a}]")
    _ffi.check(lib.cl_winograd_matrices(m, at, g, bt), f"winograd_f{m}3/c matrices")
    return (np.frombuffer(ffi.buffer(at), np.float64).reshape(m, a).copy(),
            np.frombuffer(ffi.buffer(g), np.float64).reshape(a, 3).copy(),
            np.frombuffer(ffi.buffer(bt), np.float64).reshape(a, a).copy())


def rigorous_factor(m: int, c_in: int) -> float:
    """The first-order worst case of the module docstring, for data of equal magnitude."""
    at, g, bt = (np.abs(t) for t in matrices(m))
    amp = (at * (g.sum(1) * bt.sum(1))).sum(1).max()
    return amp ** 2 / 9 * (c_in + 12) / (9 * c_in + 1)


def _make_prepare(m: int):
    def prepare(spec, w, b, threads):
        ffi, lib = _ffi.ffi, _ffi.lib
        w = np.ascontiguousarray(w, np.float32)
        ep = _ffi.Epilogue(spec, b)
        shapes = _ffi.ShapeCache(spec)
        proto = _ffi.conv_shape(spec, (1, spec.c_in, 8, 8))   # the weights do not depend on h, w
        out = ffi.new("cl_winograd **")
        _ffi.check(lib.cl_winograd_prepare(m, proto, _ffi.fptr(w), out), f"winograd_f{m}3/c prepare")
        plan = ffi.gc(out[0], lib.cl_winograd_free)

        def run(x, y):
            _ffi.check(lib.cl_winograd_run(plan, shapes(x.shape), _ffi.fptr(x), _ffi.fptr_out(y), ep.c, threads),
                       f"winograd_f{m}3/c")
        run.keepalive = (ep, plan)
        return run
    return prepare


for _m in (2, 4, 6):
    register(KernelEntry(
        f"winograd_f{_m}3", "c", _make_prepare(_m),
        Constraints(kernel_sizes=pairs(3), strides=pairs(1), dilations=pairs(1), groups="one"),
        f"C: Winograd F({_m}x{_m},3x3), tile transforms over the vector layer (AVX-512/AVX2/NEON), "
        f"{(_m + 2) ** 2} packed GEMMs over channels, fused epilogue",
        error_factor=ERROR_FACTORS.get(_m, 1.0), unavailable=_ffi.unavailable,
        table_ops=("winograd",) + _ffi.GEMM_OPS))
