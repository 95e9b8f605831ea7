"""Depthwise 3x3 stride 1/2 in C (csrc/dwconv3x3*.c): rows from an L1 ring of zero-bordered copies,
vector row kernels per ISA (AVX-512/AVX2/NEON/scalar, by cpuid)."""
from ...registry import Constraints, KernelEntry, pairs, register
from . import _ffi

register(KernelEntry("depthwise", "c", _ffi.weights_as_is("cl_dwconv3x3_run", "depthwise/c"),
                     Constraints(kernel_sizes=pairs(3), strides=pairs(1, 2), dilations=pairs(1), groups="depthwise"),
                     "C: depthwise 3x3 s1/s2, zero-bordered row ring + vector row kernels (AVX-512/AVX2/NEON), "
                     "fused epilogue", unavailable=_ffi.unavailable))
