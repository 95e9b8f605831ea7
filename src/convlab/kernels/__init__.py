"""Importing this package registers every kernel (see convlab.registry)."""
from . import reference  # noqa: F401
from . import numba  # noqa: F401  (backend "numba": direct, im2col, winograd_f23, depthwise)
from . import c  # noqa: F401  (backend "c": csrc/ through cffi)
