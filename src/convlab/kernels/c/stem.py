"""Direct convolution for few input channels in C (csrc/conv_stem*.c): a network's stem (3 -> 32,
3x3 stride 2), where im2col's column matrix (K = 27 rows gathered at stride 2) costs more than the
GEMM over it. Output columns in vectors, 8 output channels per input load, every tap a unit-stride
load from a zero-bordered stride-phase-split copy of the image (AVX-512/AVX2/NEON/scalar by cpuid)."""
from ...registry import Constraints, KernelEntry, register
from . import _ffi

MAX_C_IN = 8   # beyond this the input rows of all channels stop fitting in L1 and im2col-GEMM wins

register(KernelEntry("stem", "c", _ffi.weights_as_is("cl_stem_run", "stem/c"),
                     Constraints(groups="one", max_c_in=MAX_C_IN),
                     "C: direct conv for <= 8 input channels (network stems): vectors over output columns, "
                     "8 output channels in registers, taps from a stride-phase-split zero-bordered copy; "
                     "fused epilogue", unavailable=_ffi.unavailable, table_ops=("stem",)))
