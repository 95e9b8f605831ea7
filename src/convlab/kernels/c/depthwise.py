"""Depthwise conv in C (csrc/dwconv_kxk.c, csrc/dwconv3x3*.c): 3x3 stride 1 from an L1 ring of
zero-bordered rows, stride 2 from the input rows in place (even/odd columns split in registers,
masked loads at the row ends), vector kernels per ISA (AVX-512/AVX2/NEON/scalar, by cpuid); any other
kernel size, stride or dilation (global 7x7, 5x5) by a general kernel over a zero-bordered plane."""
from ...registry import Constraints, KernelEntry, register
from . import _ffi

register(KernelEntry("depthwise", "c", _ffi.weights_as_is("cl_dwconv_run", "depthwise/c"),
                     Constraints(groups="depthwise"),
                     "C: depthwise; 3x3 s1: zero-bordered row ring, s2: rows in place, split in registers; vector "
                     "kernels (AVX-512/AVX2/NEON); "
                     "any other KxK/stride/dilation: zero-bordered plane, row accumulation; fused epilogue",
                     unavailable=_ffi.unavailable, table_ops=("depthwise3x3", "depthwise_kxk")))
