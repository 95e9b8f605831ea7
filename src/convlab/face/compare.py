"""Template normalisation and comparison. Templates are L2-normalised float32 vectors, so cosine
similarity is their dot product and the L2 distance is sqrt(2 - 2 cos)."""
from __future__ import annotations

import numpy as np

from ..errors import ConvInputError


def l2_normalise(v) -> np.ndarray:
    v = np.asarray(v, np.float64).ravel()
    if v.size == 0 or not np.isfinite(v).all():
        raise ConvInputError("cannot normalise a template that is empty or has NaN/Inf values")
    n = np.linalg.norm(v)
    if n == 0:
        raise ConvInputError("cannot normalise an all-zero template")
    return (v / n).astype(np.float32)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ConvInputError(f"templates differ in length: {a.size} vs {b.size}")
    return a, b


def cosine(a, b) -> float:
    """Cosine similarity in [-1, 1]; for unit templates the dot product, computed in float64."""
    a, b = _pair(a, b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        raise ConvInputError("cosine similarity of an all-zero template is undefined")
    return float(np.clip(a @ b / (na * nb), -1.0, 1.0))


def l2_distance(a, b) -> float:
    a, b = _pair(a, b)
    return float(np.linalg.norm(a - b))
