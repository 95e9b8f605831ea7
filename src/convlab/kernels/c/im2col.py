"""im2col + packed GEMM in C (csrc/conv_im2col.c, csrc/gemm.c): any conv, groups per GEMM; a 1x1
stride-1 unpadded conv is a GEMM on the input as it is."""
from __future__ import annotations

import numpy as np

from ...registry import Constraints, KernelEntry, register
from . import _ffi


def prepare(spec, w, b, threads):
    ffi, lib = _ffi.ffi, _ffi.lib
    w = np.ascontiguousarray(w, np.float32)
    ep = _ffi.Epilogue(spec, b)
    shapes = _ffi.ShapeCache(spec)
    # The packed weights need a shape to check against; any input size gives the same weights.
    proto = _ffi.conv_shape(spec, (1, spec.c_in, spec.kh + sum(spec.padding) + spec.dilation[0] * spec.kh,
                                   spec.kw + sum(spec.padding) + spec.dilation[1] * spec.kw))
    packed = lib.cl_im2col_prepare(proto, _ffi.fptr(w))
    if packed == ffi.NULL:
        raise MemoryError(f"im2col/c: cannot pack the weights of {spec.describe()}")
    packed = ffi.gc(packed, lib.cl_im2col_free)

    def run(x, out):
        _ffi.check(lib.cl_im2col_run(packed, shapes(x.shape), _ffi.fptr(x), _ffi.fptr_out(out), ep.c, threads),
                   "im2col/c")
    run.keepalive = (w, ep)
    return run


register(KernelEntry("im2col", "c", prepare, Constraints(),
                     "C: im2col packed straight into the panels of a BLIS-style GEMM (AVX-512/AVX2/NEON "
                     "micro-kernel by cpuid), fused epilogue; 1x1 s1 p0 is a plain GEMM",
                     unavailable=_ffi.unavailable, table_ops=_ffi.GEMM_OPS))
