"""Reductions: ReduceSum, ReduceMean, ReduceMax (what converted TF graphs use for L2 norms and means).

The axes are an attribute up to an opset and an optional input from it on (ReduceSum 13, the others 18);
no axes reduce everything, unless ``noop_with_empty_axes`` asks for the input unchanged.
"""
from __future__ import annotations

import numpy as np

from .tensor import axes_arg


def _reduce(f, first_input_opset: int):
    def run(node, ins, opset):
        x = ins[0]
        axes = axes_arg(node, ins, opset, first_input_opset)
        if not axes:
            if node.attr("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(x.ndim))
        if any(not -x.ndim <= a < x.ndim for a in axes):
            from . import invalid
            raise invalid(node, f"axes {axes} out of range for a rank-{x.ndim} input")
        out = f(x, axis=tuple(a % x.ndim for a in axes), keepdims=bool(node.attr("keepdims", 1)))
        return [np.asarray(out, dtype=x.dtype)]
    return run


OPS = {"ReduceSum": _reduce(np.sum, 13), "ReduceMean": _reduce(np.mean, 18), "ReduceMax": _reduce(np.max, 18)}
