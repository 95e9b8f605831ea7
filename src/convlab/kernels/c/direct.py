"""Direct convolution in C (csrc/conv_direct.c): any kernel, stride, padding, dilation, groups."""
from ...registry import Constraints, KernelEntry, register
from . import _ffi

register(KernelEntry("direct", "c", _ffi.weights_as_is("cl_direct_run", "direct/c"), Constraints(),
                     "C: direct convolution, output rows accumulated tap by tap (plain C compiled per ISA), "
                     "fused epilogue", unavailable=_ffi.unavailable, table_ops=("direct",)))
