"""SSD prior (anchor) boxes: one box per feature-map cell, min size and aspect ratio.

Centre form (cx, cy, w, h), normalised by the image size. Order: feature map, row, column, min
size, aspect ratio, which is the order a head's (1, nA*k, H, W) output has once transposed to
NHWC and reshaped to (1, H*W*nA, k). Feature map sizes are ceil(image / step), as a stride-2
conv with padding 1 produces. Each aspect ratio r gives a box m*sqrt(r) wide and m/sqrt(r) high.
FaceBoxes' anchor densification: a min size with density d is tiled d x d times per cell, centres
at (j + (t + 0.5) / d) * step, row-major, before the aspect ratios (the paper's "uniformly tile
n^2 anchors around the centre"; FaceBoxes.PyTorch offsets by t / d instead, not centred).
Computed once per model, so the fast version is vectorised NumPy rather than a Numba kernel.
"""
from __future__ import annotations

import math

import numpy as np

from .checks import PostprocessInputError


def feature_map_sizes(width: int, height: int, steps) -> list[tuple[int, int]]:
    return [(math.ceil(height / s), math.ceil(width / s)) for s in steps]


def _densities(min_sizes, densities) -> list[list[int]]:
    if densities is None:
        return [[1] * len(m) for m in min_sizes]
    if [len(d) for d in densities] != [len(m) for m in min_sizes] or \
            any(int(v) != v or v < 1 for d in densities for v in d):
        raise PostprocessInputError(f"densities must be positive ints shaped like min_sizes {min_sizes}, got {densities}")
    return [[int(v) for v in d] for d in densities]


def _check(width, height, min_sizes, steps, aspect_ratios):
    if width <= 0 or height <= 0:
        raise PostprocessInputError(f"image size must be positive, got {width}x{height}")
    if len(min_sizes) != len(steps):
        raise PostprocessInputError(f"need one steps entry per min_sizes entry, got {len(steps)} and {len(min_sizes)}")
    if any(s <= 0 for s in steps) or any(m <= 0 for ms in min_sizes for m in ms) or any(r <= 0 for r in aspect_ratios):
        raise PostprocessInputError("min sizes, steps and aspect ratios must be positive")


def ssd_priors(width: int, height: int, min_sizes, steps, aspect_ratios=(1.0,), clip: bool = False,
               densities=None) -> np.ndarray:
    """(A, 4) float32 priors; A = sum over maps of H*W*sum(density^2 over min sizes)*len(aspect_ratios)."""
    _check(width, height, min_sizes, steps, aspect_ratios)
    densities = _densities(min_sizes, densities)
    r = np.sqrt(np.asarray(aspect_ratios, np.float64))
    levels = []
    for (fh, fw), mins, dens, step in zip(feature_map_sizes(width, height, steps), min_sizes, densities, steps):
        # Per cell: one (dy, dx, w, h) row per anchor, in the order the docstring gives.
        cell = np.array([[(ty + 0.5) / d, (tx + 0.5) / d, m * ri / width, m / ri / height]
                         for m, d in zip(mins, dens) for ty in range(d) for tx in range(d) for ri in r])
        level = np.empty((fh, fw, len(cell), 4))
        level[..., 0] = (np.arange(fw)[None, :, None] + cell[:, 1]) * step / width
        level[..., 1] = (np.arange(fh)[:, None, None] + cell[:, 0]) * step / height
        level[..., 2] = cell[:, 2]
        level[..., 3] = cell[:, 3]
        levels.append(level.reshape(-1, 4))
    priors = np.concatenate(levels)
    if clip:
        np.clip(priors, 0.0, 1.0, out=priors)
    return priors.astype(np.float32)


def ssd_priors_reference(width: int, height: int, min_sizes, steps, aspect_ratios=(1.0,), clip: bool = False,
                         densities=None) -> np.ndarray:
    """The same boxes by plain loops, in the order the docstring gives."""
    _check(width, height, min_sizes, steps, aspect_ratios)
    densities = _densities(min_sizes, densities)
    out = []
    for (fh, fw), mins, dens, step in zip(feature_map_sizes(width, height, steps), min_sizes, densities, steps):
        for i in range(fh):
            for j in range(fw):
                for m, d in zip(mins, dens):
                    for ty in range(d):
                        for tx in range(d):
                            for r in aspect_ratios:
                                box = [(j + (tx + 0.5) / d) * step / width, (i + (ty + 0.5) / d) * step / height,
                                       m * math.sqrt(r) / width, m / math.sqrt(r) / height]
                                out.append([min(max(v, 0.0), 1.0) for v in box] if clip else box)
    return np.array(out, np.float32).reshape(-1, 4)


def priors_for_spec(spec) -> np.ndarray:
    """Priors of a `ModelSpec` whose decoding kind is "ssd"."""
    if spec.kind != "ssd":
        raise PostprocessInputError(f"model {spec.name!r} decodes as {spec.kind!r}, not ssd: it has no prior boxes")
    p = spec.decoding["priors"]
    return ssd_priors(spec.input.width, spec.input.height, p["min_sizes"], p["steps"],
                      p.get("aspect_ratios", [1.0]), p.get("clip", False), p.get("densities"))
