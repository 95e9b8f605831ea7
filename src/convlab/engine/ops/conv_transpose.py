"""ConvTranspose (2-D) in NumPy: each kernel tap scatters a 1x1-conv product into a strided view.

It is the adjoint of the conv reference's gather; upsampling heads are rare and small, so no
registered kernel backs it yet.
"""
from __future__ import annotations

import numpy as np


def check_conv_transpose(node, x_shape, w_shape) -> None:
    """What onnxruntime refuses in a ConvTranspose, as the node's ModelLoadError (at load)."""
    from . import invalid
    groups = node.attr("group", 1)
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise invalid(node, f"only 2-D ConvTranspose is supported (input {tuple(x_shape)}, weights {tuple(w_shape)})")
    if groups < 1 or x_shape[1] % groups:
        raise invalid(node, f"group {groups} must divide the input's {x_shape[1]} channels")
    if w_shape[0] != x_shape[1]:
        raise invalid(node, f"weights {tuple(w_shape)} are for {w_shape[0]} input channels, the input has {x_shape[1]}")
    if min(w_shape) < 1:
        raise invalid(node, f"weights {tuple(w_shape)} have an empty dimension")
    if node.attr("auto_pad", "NOTSET") != "NOTSET" and node.attr("pads") is not None:
        raise invalid(node, f"pads and auto_pad={node.attr('auto_pad')} cannot be used together")
    kernel = node.attr("kernel_shape")
    if kernel is not None and list(kernel) != list(w_shape[2:]):
        raise invalid(node, f"kernel_shape {list(kernel)} disagrees with the weights' {list(w_shape[2:])}")


def conv_transpose_geometry(node, in_hw, w_shape):
    """(strides, dilations, (pad_begin, pad_end) per dim, output_padding, output size per dim)."""
    from . import invalid, positive_ints
    kernel = list(node.attr("kernel_shape") or w_shape[2:])
    strides = positive_ints(node, "strides", node.attr("strides") or [1, 1], 2)
    dil = positive_ints(node, "dilations", node.attr("dilations") or [1, 1], 2)
    out_pad = positive_ints(node, "output_padding", node.attr("output_padding") or [0, 0], 2, minimum=0)
    pads = positive_ints(node, "pads", node.attr("pads") or [0, 0, 0, 0], 4, minimum=0)
    for i in range(2):
        if out_pad[i] >= max(strides[i], dil[i]):
            raise invalid(node, f"output_padding {out_pad} must be smaller than the stride {strides} or the "
                                f"dilation {dil} on each axis")
    auto_pad = node.attr("auto_pad", "NOTSET")
    out_shape = node.attr("output_shape")
    pad_pairs, sizes = [], []
    for i, size in enumerate(in_hw):
        full = strides[i] * (size - 1) + out_pad[i] + dil[i] * (kernel[i] - 1) + 1
        if out_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            target = out_shape[-2:][i] if out_shape is not None else size * strides[i]
            total = full - target
            half = total // 2
            pb, pe = (half, total - half) if auto_pad != "SAME_LOWER" else (total - half, half)
        elif auto_pad == "VALID":
            pb = pe = 0
        else:
            pb, pe = pads[i], pads[i + 2]
        pad_pairs.append((pb, pe))
        sizes.append(full - pb - pe)
        if sizes[-1] < 1:
            raise invalid(node, f"output size {sizes[-1]} < 1 on axis {i + 2}")
    return strides, dil, pad_pairs, out_pad, sizes


def _conv_transpose(node, ins, opset):
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    n, c, h, wd = x.shape
    groups = node.attr("group", 1)
    (sh, sw), (dh, dw), ((pt, pb), (pl, pr)), (oph, opw), (oh, ow) = conv_transpose_geometry(node, (h, wd), w.shape)
    kh, kw = w.shape[2:]
    cig, cog = c // groups, w.shape[1]
    full = np.zeros((n, cog * groups, oh + pt + pb, ow + pl + pr), np.float32)
    for g in range(groups):
        xg = x[:, g * cig:(g + 1) * cig]
        for i in range(kh):
            for j in range(kw):
                tap = np.einsum("nchw,cm->nmhw", xg, w[g * cig:(g + 1) * cig, :, i, j])
                full[:, g * cog:(g + 1) * cog, i * dh: i * dh + sh * (h - 1) + 1: sh,
                     j * dw: j * dw + sw * (wd - 1) + 1: sw] += tap
    y = full[:, :, pt:pt + oh, pl:pl + ow]
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return [np.ascontiguousarray(y)]


def _check(node, opset):
    if len(node.attr("kernel_shape") or [0, 0]) != 2:
        return "only 2-D ConvTranspose is supported"
    return None


OPS = {"ConvTranspose": _conv_transpose}
CHECKS = {"ConvTranspose": _check}
