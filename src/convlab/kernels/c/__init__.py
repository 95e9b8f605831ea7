"""Backend "c": the kernels in csrc/, compiled by cffi (API mode) when the package is installed."""
from . import depthwise, direct, im2col  # noqa: F401
from . import stem, winograd  # noqa: F401
from ._ffi import ffi, kernel_table, lib, unavailable  # noqa: F401  (public: for code outside this package, e.g. fpenv.py)
