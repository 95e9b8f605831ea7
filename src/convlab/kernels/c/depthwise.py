"""Depthwise 3x3 stride 1/2 in C (csrc/dwconv3x3*.c): vector row kernels (AVX-512/AVX2/NEON by
cpuid) for the interior, a scalar point for the edges."""
from __future__ import annotations

import numpy as np

from ...registry import Constraints, KernelEntry, pairs, register
from . import _ffi


def prepare(spec, w, b, threads):
    lib = _ffi.lib
    w = np.ascontiguousarray(w, np.float32)
    ep = _ffi.Epilogue(spec, b)
    shapes = _ffi.ShapeCache(spec)
    wp = _ffi.fptr(w)

    def run(x, out):
        _ffi.check(lib.cl_dwconv3x3_run(shapes(x.shape), _ffi.fptr(x), wp, _ffi.fptr(out), ep.c, threads),
                   "depthwise/c")
    return run


register(KernelEntry("depthwise", "c", prepare,
                     Constraints(kernel_sizes=pairs(3), strides=pairs(1, 2), dilations=pairs(1), groups="depthwise"),
                     "C: depthwise 3x3 s1/s2, vector rows (AVX-512/AVX2/NEON) + scalar edges, fused epilogue",
                     unavailable=_ffi.unavailable))
