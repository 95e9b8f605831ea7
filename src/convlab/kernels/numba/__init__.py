"""Numba kernels (backend "numba"): one module per algorithm, each registering itself on import."""
from . import depthwise, direct, im2col, winograd_f23  # noqa: F401
