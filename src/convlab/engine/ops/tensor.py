"""Shape and layout ops: Reshape, Transpose, Concat, Slice, Pad, ... and the Shape/Gather family
that exporters use to compute shapes (usually folded away at load for a fixed input shape)."""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper


def _ints(a) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


def axes_arg(node, ins, opset, first_input_opset: int, index: int = 1) -> list[int] | None:
    """`axes` as an attribute before `first_input_opset`, as an optional input from then on."""
    if opset < first_input_opset:
        v = node.attr("axes")
        return None if v is None else list(v)
    return _ints(ins[index]) if len(ins) > index and ins[index] is not None else None


def _invalid(node, why):
    from . import invalid
    return invalid(node, why)


def _flatten(node, ins, opset):
    x = ins[0]
    axis = node.attr("axis", 1)
    if not -x.ndim <= axis <= x.ndim:
        raise _invalid(node, f"axis {axis} out of range [-{x.ndim}, {x.ndim}] for a rank-{x.ndim} input")
    axis = axis % (x.ndim + 1) if x.ndim else 0
    return [x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)]


def _reshape(node, ins, opset):
    x, shape = ins[0], _ints(ins[1])
    if not (opset >= 14 and node.attr("allowzero", 0)):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [x.reshape(shape)]


def _transpose(node, ins, opset):
    x = ins[0]
    perm = node.attr("perm") or list(range(x.ndim))[::-1]
    return [np.transpose(x, perm)]


def _concat(node, ins, opset):
    return [np.concatenate([i for i in ins if i is not None], axis=node.attr("axis"))]


def _split(node, ins, opset):
    x = ins[0]
    axis = node.attr("axis", 0) % x.ndim
    n = len(node.outputs)
    split = node.attr("split") if opset < 13 else (_ints(ins[1]) if len(ins) > 1 and ins[1] is not None else None)
    if split is None:
        parts = node.attr("num_outputs", n)
        size = -(-x.shape[axis] // parts)       # opset 18: the last chunk may be smaller
        split = [min(size, x.shape[axis] - k * size) for k in range(parts)]
    split = [int(v) for v in split]
    if any(v < 0 for v in split) or sum(split) != x.shape[axis] or len(split) != n:
        raise _invalid(node, f"split sizes {split} must be {n} non-negative sizes summing to the axis' "
                             f"{x.shape[axis]}")
    bounds = np.cumsum([0] + list(split))
    return [np.take(x, np.arange(bounds[k], bounds[k + 1]), axis=axis) for k in range(len(split))]


def _squeeze(node, ins, opset):
    x = ins[0]
    axes = axes_arg(node, ins, opset, 13)
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes))]


def _unsqueeze(node, ins, opset):
    x = ins[0]
    axes = axes_arg(node, ins, opset, 13)
    rank = x.ndim + len(axes)
    return [np.expand_dims(x, tuple(sorted(a % rank for a in axes)))]


def _slice(node, ins, opset):
    x = ins[0]
    if opset < 10:
        starts, ends = node.attr("starts"), node.attr("ends")
        axes, steps = node.attr("axes"), None
    else:
        starts, ends = _ints(ins[1]), _ints(ins[2])
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else None
        steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        dim = x.shape[a]
        # Clamp like ONNX: INT64_MAX/MIN mean "to the end"; python slicing then handles negatives.
        s, e = max(min(s, dim), -dim - 1), max(min(e, dim), -dim - 1)
        if st < 0 and e < -dim:
            e = None
        index[a % x.ndim] = slice(s, e, st)
    return [x[tuple(index)]]


def pad_widths(node, ins, opset, rank: int) -> tuple[list[tuple[int, int]], float]:
    """Pad's ((begin, end) per axis, constant value): attributes before opset 11, inputs from 11 on."""
    if opset < 11:
        pads, value, axes = node.attr("pads"), node.attr("value", 0.0), None
    else:
        pads = _ints(ins[1])
        value = ins[2].item() if len(ins) > 2 and ins[2] is not None and ins[2].size else 0
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else None
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    if pads is None or len(pads) != 2 * len(axes):
        raise _invalid(node, f"pads {pads} must hold 2 x {len(axes)} values")
    width = [(0, 0)] * rank
    for i, a in enumerate(axes):
        width[a] = (pads[i], pads[i + len(axes)])
    return width, value


def _pad(node, ins, opset):
    x = ins[0]
    width, value = pad_widths(node, ins, opset, x.ndim)
    mode = node.attr("mode", "constant")
    for d, (b, e) in enumerate(width):
        if x.shape[d] + min(b, 0) + min(e, 0) < 0:
            raise _invalid(node, f"pads ({b}, {e}) crop more than axis {d}'s {x.shape[d]} elements")
        if mode == "reflect" and max(b, e) >= x.shape[d]:
            raise _invalid(node, f"reflect pads ({b}, {e}) must be smaller than axis {d}'s size {x.shape[d]}")
    if min(min(w) for w in width) < 0:   # negative pads crop
        crop = tuple(slice(-min(b, 0), x.shape[d] + min(e, 0)) for d, (b, e) in enumerate(width))
        x = x[crop]
        width = [(max(b, 0), max(e, 0)) for b, e in width]
    if mode == "constant":
        return [np.pad(x, width, mode="constant", constant_values=x.dtype.type(value))]
    return [np.pad(x, width, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode])]


def _gather(node, ins, opset):
    x, idx = ins
    return [np.take(x, idx.astype(np.int64), axis=node.attr("axis", 0))]


def _shape(node, ins, opset):
    shape = np.array(ins[0].shape, np.int64)
    start, end = node.attr("start", 0), node.attr("end", None)
    return [shape[start:end]]


def _constant_of_shape(node, ins, opset):
    v = node.attr("value")
    value = numpy_helper.to_array(v).reshape(-1) if v is not None else np.zeros(1, np.float32)
    return [np.full(_ints(ins[0]), value[0], value.dtype)]


def _range(node, ins, opset):
    start, limit, delta = (i.item() for i in ins)
    return [np.arange(start, limit, delta, dtype=ins[0].dtype)]


def _expand(node, ins, opset):
    x, shape = ins[0], _ints(ins[1])
    return [x * np.ones(shape, x.dtype)]


def _check_pad(node, opset):
    mode = node.attr("mode", "constant")
    return None if mode in ("constant", "reflect", "edge", "wrap") else f"mode {mode!r}"


OPS = {"Flatten": _flatten, "Reshape": _reshape, "Transpose": _transpose, "Concat": _concat,
       "Split": _split, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Slice": _slice, "Pad": _pad,
       "Gather": _gather, "Shape": _shape, "ConstantOfShape": _constant_of_shape, "Range": _range,
       "Expand": _expand}
CHECKS = {"Pad": _check_pad}
# Ops whose output is a view of (or equal to) their first input: the arena lets them share its storage.
VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})
