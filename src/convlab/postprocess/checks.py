"""Input validation shared by the post-processing entry points (kernels themselves trust their inputs)."""
from __future__ import annotations

import numpy as np

from ..errors import ConvlabError


class PostprocessInputError(ConvlabError):
    """Detector outputs, priors or post-processing parameters are malformed."""


def as_rows(name: str, a, width: int | None) -> np.ndarray:
    """(A, width) or (1, A, width) float array -> C-contiguous float32 (A, width); NaN rejected."""
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2 or (width is not None and a.shape[1] != width):
        want = f"(A, {width}) or (1, A, {width})" if width else "(A, C) or (1, A, C)"
        raise PostprocessInputError(f"{name} must have shape {want}, got {np.shape(a)}")
    if not np.issubdtype(a.dtype, np.floating):
        raise PostprocessInputError(f"{name} must be a float array, got dtype {a.dtype}")
    return _no_nan(name, np.ascontiguousarray(a, dtype=np.float32), "row")


def scores_1d(name: str, s) -> np.ndarray:
    s = np.asarray(s)
    if s.ndim != 1 or not np.issubdtype(s.dtype, np.floating):
        raise PostprocessInputError(f"{name} must be a 1-D float array, got shape {s.shape} dtype {s.dtype}")
    return _no_nan(name, np.ascontiguousarray(s, dtype=np.float32), "index")


def _no_nan(name: str, a: np.ndarray, where: str) -> np.ndarray:
    if np.isnan(a).any():
        raise PostprocessInputError(f"{name} contains NaN (at {where} {int(np.argwhere(np.isnan(a))[0, 0])})")
    return a


def fraction(name: str, v) -> float:
    v = float(v)
    if not 0.0 <= v <= 1.0:
        raise PostprocessInputError(f"{name} must be in [0, 1], got {v}")
    return v


def positive_int(name: str, v) -> int:
    if isinstance(v, bool) or int(v) != v or int(v) < 1:
        raise PostprocessInputError(f"{name} must be a positive integer, got {v!r}")
    return int(v)
