"""Direct convolution in C (csrc/conv_direct.c): any kernel, stride, padding, dilation, groups."""
from __future__ import annotations

import numpy as np

from ...registry import Constraints, KernelEntry, register
from . import _ffi


def prepare(spec, w, b, threads):
    lib = _ffi.lib
    w = np.ascontiguousarray(w, np.float32)
    ep = _ffi.Epilogue(spec, b)
    shapes = _ffi.ShapeCache(spec)
    wp = _ffi.fptr(w)

    def run(x, out):
        _ffi.check(lib.cl_direct_run(shapes(x.shape), _ffi.fptr(x), wp, _ffi.fptr(out), ep.c, threads),
                   "direct/c")
    return run


register(KernelEntry("direct", "c", prepare, Constraints(),
                     "C: direct convolution, output rows accumulated tap by tap (compiler-vectorised, "
                     "multiversioned on x86), fused epilogue", unavailable=_ffi.unavailable))
