"""The bias + activation epilogue every Numba kernel applies while writing an output element.

One copy, inlined into each kernel's store loop: the activation code is loop-invariant there, so
LLVM unswitches the branch and the store loop stays a straight vector loop (measured: ~0.3 ns per
element, sigmoid ~3 ns). Kernels give it a loop of its own over an output row still in L1: fused
into the depthwise 9-tap loop it stopped that loop vectorising (1.7x slower).
Comparisons are written so NaN falls through unchanged (IEEE propagation, like the reference).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ...activation import ACT_HARDSWISH, ACT_PRELU, ACT_RELU, ACT_RELU6, ACT_SIGMOID, Activation

_ZERO, _ONE, _THREE, _SIX = np.float32(0), np.float32(1), np.float32(3), np.float32(6)


@njit(inline="always", cache=True)
def bias_act(v, bias, code, slope):
    """act(v + bias) in float32; ``slope`` is this channel's negative slope (leaky_relu/prelu)."""
    v = v + bias
    if code == ACT_RELU:
        return _ZERO if v < _ZERO else v
    if code == ACT_RELU6:
        return _ZERO if v < _ZERO else (_SIX if v > _SIX else v)
    if code == ACT_PRELU:
        return v * slope if v < _ZERO else v
    if code == ACT_SIGMOID:
        return _ONE / (_ONE + np.exp(-v))
    if code == ACT_HARDSWISH:
        t = v + _THREE
        t = _ZERO if t < _ZERO else (_SIX if t > _SIX else t)
        return v * t / _SIX
    return v


def epilogue_args(activation: Activation, b: np.ndarray | None, c_out: int) -> tuple[np.ndarray, int, np.ndarray]:
    """(bias, code, slopes) as the kernels take them: a missing bias is zeros."""
    bias = np.zeros(c_out, np.float32) if b is None else np.ascontiguousarray(b, np.float32)
    return bias, activation.code, activation.slopes_for(c_out)
