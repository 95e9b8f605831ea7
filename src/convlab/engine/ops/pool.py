"""MaxPool, AveragePool (ceil_mode, pads, strides, dilations, count_include_pad) and global pools.

Pooling is done one kernel tap at a time over strided views of a padded copy, like the conv
reference: k*k vectorised passes instead of a loop per output pixel.
"""
from __future__ import annotations

import itertools

import numpy as np


def pool_geometry(node, in_sizes):
    """Per spatial dim: (kernel, stride, dilation, pad_begin, pad_end, out_size)."""
    from . import invalid, positive_ints
    nd = len(in_sizes)
    kernel = positive_ints(node, "kernel_shape", node.attr("kernel_shape"), nd)
    strides = positive_ints(node, "strides", node.attr("strides") or [1] * nd, nd)
    dil = positive_ints(node, "dilations", node.attr("dilations") or [1] * nd, nd)
    pads = positive_ints(node, "pads", node.attr("pads") or [0] * 2 * nd, 2 * nd, minimum=0)
    for i in range(nd):
        if max(pads[i], pads[i + nd]) >= kernel[i]:
            raise invalid(node, f"pads {pads} must be smaller than kernel_shape {kernel} (onnxruntime's rule: "
                                "a window of padding only has no value)")
    auto_pad = node.attr("auto_pad", "NOTSET")
    ceil_mode = node.attr("ceil_mode", 0)
    geo = []
    for i, size in enumerate(in_sizes):
        k, s, d = kernel[i], strides[i], dil[i]
        span = d * (k - 1) + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out = -(-size // s)
            total = max(0, (out - 1) * s + span - size)
            small, large = total // 2, total - total // 2
            pb, pe = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
        else:
            pb, pe = (0, 0) if auto_pad == "VALID" else (pads[i], pads[i + nd])
            num = size + pb + pe - span
            out = (-(-num // s) if ceil_mode else num // s) + 1
            # A window may not start in the end padding (PyTorch's and onnxruntime's rule).
            if ceil_mode and (out - 1) * s >= size + pb:
                out -= 1
        if out < 1:
            raise invalid(node, f"the {span}-wide window (kernel {k}, dilation {d}) does not fit the input of "
                                f"size {size} with pads ({pb}, {pe}): output size {out}")
        geo.append((k, s, d, pb, pe, out))
    return geo


def _padded(x, geo, fill):
    """x padded so every window fits: explicit pads plus any extra ceil_mode needs, with `fill`."""
    width = [(0, 0), (0, 0)]
    for (k, s, d, pb, pe, out), size in zip(geo, x.shape[2:]):
        need = (out - 1) * s + d * (k - 1) + 1
        width.append((pb, max(0, need - size - pb)))
    return np.pad(x, width, constant_values=fill)


def _taps(xp, geo):
    for offs in itertools.product(*[range(k) for k, *_ in geo]):
        index = [slice(None), slice(None)]
        for o, (k, s, d, pb, pe, out) in zip(offs, geo):
            index.append(slice(o * d, o * d + (out - 1) * s + 1, s))
        yield xp[tuple(index)]


def _maxpool(node, ins, opset):
    x = ins[0]
    geo = pool_geometry(node, x.shape[2:])
    taps = _taps(_padded(x, geo, -np.inf), geo)
    y = next(taps).copy()
    for t in taps:
        np.maximum(y, t, out=y)
    return [y]


def _avgpool(node, ins, opset):
    x = ins[0]
    geo = pool_geometry(node, x.shape[2:])
    total = np.zeros(x.shape[:2] + tuple(g[-1] for g in geo), np.float32)
    for t in _taps(_padded(x, geo, 0), geo):
        total += t
    # Divisor per output: how many taps fall on real input (or on explicit pads with
    # count_include_pad) — pooled from an indicator the same way the data is.
    include_pad = node.attr("count_include_pad", 0)
    ind = np.ones((1, 1) + tuple(x.shape[2:]), np.float32)
    if include_pad:
        ind = np.pad(ind, [(0, 0), (0, 0)] + [(pb, pe) for k, s, d, pb, pe, out in geo], constant_values=1)
        geo_ind = [(k, s, d, 0, 0, out) for k, s, d, pb, pe, out in geo]
    else:
        geo_ind = geo
    count = np.zeros((1, 1) + total.shape[2:], np.float32)
    for t in _taps(_padded(ind, geo_ind, 0), geo_ind):
        count += t
    return [(total / count).astype(x.dtype, copy=False)]


def _global_avg(node, ins, opset):
    x = ins[0]
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=np.float64).astype(x.dtype)]


def _global_max(node, ins, opset):
    x = ins[0]
    return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]


def _check_pool(node, opset):
    if len(node.outputs) > 1 and node.outputs[1]:
        return "the Indices output is not supported"
    if node.attr("storage_order", 0):
        return "storage_order=1 is not supported"
    if node.attr("kernel_shape") is None:
        return "kernel_shape is required"
    return None


OPS = {"MaxPool": _maxpool, "AveragePool": _avgpool, "GlobalAveragePool": _global_avg,
       "GlobalMaxPool": _global_max}
CHECKS = {"MaxPool": _check_pool, "AveragePool": _check_pool}
