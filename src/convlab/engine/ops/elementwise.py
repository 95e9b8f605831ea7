"""Element-wise ops (NumPy broadcasting is ONNX's multidirectional broadcasting) and activations."""
from __future__ import annotations

import numpy as np

_F32_MAX = float(np.finfo(np.float32).max)


def _int_div(a, b):
    # ONNX integer Div truncates toward zero (C semantics), unlike numpy's floor division.
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) ^ (b < 0), -q, q).astype(np.result_type(a, b))


def _div(a, b):
    if np.issubdtype(np.result_type(a, b), np.integer):
        return _int_div(a, b)
    return np.divide(a, b)


def _binary(f):
    return lambda node, ins, opset: [f(ins[0], ins[1]).astype(np.result_type(ins[0], ins[1]), copy=False)]


def _unary(f):
    return lambda node, ins, opset: [f(ins[0])]


def _sigmoid(x):
    # exp of a negative argument only, so large |x| neither overflows nor warns.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _hard_sigmoid(node, ins, opset):
    x = ins[0]
    alpha, beta = node.attr("alpha", 0.2), node.attr("beta", 0.5)
    return [np.clip(x * x.dtype.type(alpha) + x.dtype.type(beta), 0, 1).astype(x.dtype, copy=False)]


def _hard_swish(x):
    return (x * np.clip(x * np.float32(1 / 6) + np.float32(0.5), 0, 1)).astype(x.dtype, copy=False)


def clip_bounds(node, ins, opset) -> tuple[float, float]:
    """Clip's (min, max): attributes before opset 11, optional inputs from 11 on."""
    if opset < 11:
        return float(node.attr("min", -_F32_MAX)), float(node.attr("max", _F32_MAX))
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else None
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else None
    # The spec says scalars; exporters also write shape-(1,) tensors, which onnxruntime accepts.
    return (-np.inf if lo is None else float(lo.reshape(-1)[0])), (np.inf if hi is None else float(hi.reshape(-1)[0]))


def _clip(node, ins, opset):
    lo, hi = clip_bounds(node, ins, opset)
    x = ins[0]
    return [np.clip(x, x.dtype.type(max(lo, -_F32_MAX) if np.isfinite(lo) else lo),
                    x.dtype.type(min(hi, _F32_MAX) if np.isfinite(hi) else hi))]


def _leaky(node, ins, opset):
    x = ins[0]
    return [np.where(x >= 0, x, x * x.dtype.type(node.attr("alpha", 0.01)))]


def _prelu(node, ins, opset):
    x, s = ins
    try:
        ok = np.broadcast_shapes(x.shape, s.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:    # ONNX: the slope broadcasts *to* X (unidirectionally); the output has X's shape
        from . import invalid
        raise invalid(node, f"slope of shape {s.shape} does not broadcast to the input's {x.shape}")
    return [np.where(x >= 0, x, x * s).astype(x.dtype, copy=False)]


def _cast(node, ins, opset):
    from onnx import helper
    return [ins[0].astype(helper.tensor_dtype_to_np_dtype(node.attr("to")))]


def _where(node, ins, opset):
    return [np.where(ins[0], ins[1], ins[2])]


def _sum(node, ins, opset):
    out = ins[0]
    for x in ins[1:]:
        out = out + x
    return [out]


OPS = {
    "Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply), "Div": _binary(_div),
    "Pow": _binary(np.power), "Equal": lambda n, i, o: [np.equal(i[0], i[1])],
    "Less": lambda n, i, o: [np.less(i[0], i[1])], "Greater": lambda n, i, o: [np.greater(i[0], i[1])],
    "Min": lambda n, i, o: [np.minimum.reduce(np.broadcast_arrays(*i))],
    "Max": lambda n, i, o: [np.maximum.reduce(np.broadcast_arrays(*i))],
    "Sum": _sum, "Where": _where, "Not": _unary(np.logical_not),
    "Relu": _unary(lambda x: np.maximum(x, x.dtype.type(0))), "Sigmoid": _unary(_sigmoid),
    "Tanh": _unary(np.tanh), "HardSigmoid": _hard_sigmoid, "HardSwish": _unary(_hard_swish),
    "LeakyRelu": _leaky, "PRelu": _prelu, "Clip": _clip, "Neg": _unary(np.negative),
    "Abs": _unary(np.abs), "Sqrt": _unary(np.sqrt), "Exp": _unary(np.exp), "Floor": _unary(np.floor), "Ceil": _unary(np.ceil),
    "Identity": _unary(lambda x: x), "Dropout": _unary(lambda x: x), "Cast": _cast,
}


def _check_cast(node, opset):
    from onnx import helper
    try:
        helper.tensor_dtype_to_np_dtype(node.attr("to"))
    except (KeyError, TypeError, ValueError):
        return f"cast to ONNX type {node.attr('to')}"
    return None


def _check_dropout(node, opset):
    # Inference-mode Dropout is the identity; its mask output would need the training semantics.
    return "the mask output is not supported" if len(node.outputs) > 1 and node.outputs[1] else None


CHECKS = {"Cast": _check_cast, "Dropout": _check_dropout}
