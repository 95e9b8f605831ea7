"""Resize (opset 10-21) and Upsample: nearest and (bi)linear, separable one axis at a time.

Each resized axis maps output coordinates to input coordinates with the model's
coordinate_transformation_mode, then gathers (nearest) or blends two neighbours (linear).
"""
from __future__ import annotations

import numpy as np

TRANSFORMS = {
    "half_pixel": lambda x, s, n_in, n_out: (x + 0.5) / s - 0.5,
    "pytorch_half_pixel": lambda x, s, n_in, n_out: (x + 0.5) / s - 0.5 if n_out > 1 else np.zeros_like(x),
    "align_corners": lambda x, s, n_in, n_out: x * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros_like(x),
    "asymmetric": lambda x, s, n_in, n_out: x / s,
    "tf_half_pixel_for_nn": lambda x, s, n_in, n_out: (x + 0.5) / s,
}
ROUNDING = {
    "round_prefer_floor": lambda x: np.ceil(x - 0.5),
    "round_prefer_ceil": lambda x: np.floor(x + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}


def resize_settings(node, opset):
    """(mode, coordinate transform, nearest rounding) as this opset defines the defaults."""
    mode = node.attr("mode", "nearest")
    if node.op == "Upsample" or opset < 11:
        # Upsample and Resize-10: asymmetric coordinates, nearest floors (onnxruntime's "simple").
        return mode, "asymmetric", "floor"
    return mode, node.attr("coordinate_transformation_mode", "half_pixel"), node.attr("nearest_mode", "round_prefer_floor")


def scales_and_sizes(node, ins, opset, shape):
    """Per-axis (scale, out size). Scales are the given ones, or out/in when sizes are given."""
    from . import invalid
    if node.op == "Upsample" or opset < 11:
        scales = [float(v) for v in ins[1]]
        if len(scales) != len(shape):
            raise invalid(node, f"{len(scales)} scales for a rank-{len(shape)} input")
        if not all(s > 0 for s in scales):
            raise invalid(node, f"scales {scales} must all be > 0")
        return scales, [int(np.floor(n * s)) for n, s in zip(shape, scales)]
    scales_in = ins[2] if len(ins) > 2 and ins[2] is not None and ins[2].size else None
    sizes_in = ins[3] if len(ins) > 3 and ins[3] is not None and ins[3].size else None
    axes = node.attr("axes") or list(range(len(shape)))
    if any(not -len(shape) <= a < len(shape) for a in axes):
        raise invalid(node, f"axes {list(axes)} out of range for a rank-{len(shape)} input")
    axes = [a % len(shape) for a in axes]
    given = sizes_in if sizes_in is not None else scales_in
    if given is None:
        raise invalid(node, "needs scales or sizes")
    if given.size != len(axes):
        raise invalid(node, f"{given.size} {'sizes' if sizes_in is not None else 'scales'} for "
                            f"{len(axes)} axes (rank {len(shape)})")
    if not np.all(given > 0):
        raise invalid(node, f"{'sizes' if sizes_in is not None else 'scales'} {given.tolist()} must all be > 0")
    scales, sizes = [1.0] * len(shape), list(shape)
    if sizes_in is not None:
        for a, n in zip(axes, sizes_in):
            sizes[a], scales[a] = int(n), int(n) / shape[a]
    else:
        for a, s in zip(axes, scales_in):
            scales[a], sizes[a] = float(s), int(np.floor(shape[a] * float(s)))
    return scales, sizes


def _resize(node, ins, opset):
    x = ins[0]
    mode, transform, rounding = resize_settings(node, opset)
    scales, sizes = scales_and_sizes(node, ins, opset, x.shape)
    for axis, (n_in, n_out, s) in enumerate(zip(x.shape, sizes, scales)):
        if n_in == n_out and s == 1.0:
            continue
        coord = TRANSFORMS[transform](np.arange(n_out, dtype=np.float64), s, n_in, n_out)
        if mode == "nearest":
            idx = np.clip(ROUNDING[rounding](coord), 0, n_in - 1).astype(np.int64)
            x = np.take(x, idx, axis=axis)
        else:
            coord = np.clip(coord, 0, n_in - 1)
            lo = np.floor(coord).astype(np.int64)
            hi = np.minimum(lo + 1, n_in - 1)
            shape = [1] * x.ndim
            shape[axis] = n_out
            frac = (coord - lo).astype(x.dtype).reshape(shape)
            a, b = np.take(x, lo, axis=axis), np.take(x, hi, axis=axis)
            x = a + (b - a) * frac
    return [x]


def _check(node, opset):
    mode, transform, rounding = resize_settings(node, opset)
    if mode not in ("nearest", "linear", "bilinear"):
        return f"mode {mode!r} (supported: nearest, linear)"
    if transform not in TRANSFORMS:
        return f"coordinate_transformation_mode {transform!r} (supported: {', '.join(TRANSFORMS)})"
    if rounding not in ROUNDING:
        return f"nearest_mode {rounding!r}"
    if node.attr("antialias", 0):
        return "antialias=1"
    if node.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        return f"keep_aspect_ratio_policy {node.attr('keep_aspect_ratio_policy')!r}"
    return None


OPS = {"Resize": _resize, "Upsample": _resize}
CHECKS = {"Resize": _check, "Upsample": _check}
