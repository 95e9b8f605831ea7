"""Template normalisation and comparison. Templates are L2-normalised float32 vectors, so cosine
similarity is their dot product and the L2 distance is sqrt(2 - 2 cos)."""
from __future__ import annotations

import numpy as np

from ..errors import ConvInputError

# The cosine for "same person" when neither the user nor the extractor's spec gives one: chosen before any
# trained extractor was measured, kept for specs that name no threshold of their own.
DEFAULT_SAME_THRESHOLD = 0.5


def same_threshold(given: float | None, extractor_spec) -> tuple[float, str]:
    """The threshold for "same person" and where it comes from: `given` (the user's), else the one measured
    for the extractor (its spec's decoding.same_threshold, a face.specs.StageSpec here), else the default."""
    if given is not None:
        return float(given), "given"
    if extractor_spec.same_threshold is not None:
        return float(extractor_spec.same_threshold), f"measured for the extractor {extractor_spec.model_name}"
    return DEFAULT_SAME_THRESHOLD, (f"default {DEFAULT_SAME_THRESHOLD:g}: the extractor {extractor_spec.model_name} "
                                    "names no threshold of its own")


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
