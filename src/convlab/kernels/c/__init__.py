"""Backend "c": the kernels in csrc/, compiled by cffi (API mode) when the package is installed."""
from . import depthwise, direct, im2col  # noqa: F401
from . import winograd  # noqa: F401
