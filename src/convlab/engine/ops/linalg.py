"""Gemm, MatMul, Softmax and inference-mode BatchNormalization."""
from __future__ import annotations

import numpy as np


def _gemm(node, ins, opset):
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    if node.attr("transA", 0):
        a = a.T
    if node.attr("transB", 0):
        b = b.T
    y = a @ b
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if alpha != 1.0:
        y *= y.dtype.type(alpha)
    if c is not None:
        y += c * c.dtype.type(beta) if beta != 1.0 else c
    return [y]


def _softmax(node, ins, opset):
    x = ins[0]
    if opset < 13:
        # Before opset 13 Softmax flattens to 2-D at `axis` and normalises the whole trailing block.
        axis = node.attr("axis", 1) % x.ndim
        flat = x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)
        return [_softmax_axis(flat, 1).reshape(x.shape)]
    return [_softmax_axis(x, node.attr("axis", -1))]


def _softmax_axis(x, axis):
    if x.shape[axis] > 8:
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    # A short axis (a detector's 2 classes over thousands of anchors): NumPy reduces a short inner
    # axis row by row, ~5x slower than combining the few slices element-wise.
    xs = np.moveaxis(x, axis, 0)
    top = xs[0].copy()
    for t in xs[1:]:
        np.maximum(top, t, out=top)
    e = np.exp(xs - top)
    total = e[0].copy()
    for t in e[1:]:
        total += t
    return np.ascontiguousarray(np.moveaxis(e / total, 0, axis))


def batchnorm_affine(scale, bias, mean, var, eps):
    """BatchNormalization as y = x * k + c per channel (float64 math, float32 result)."""
    k = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    c = bias.astype(np.float64) - mean.astype(np.float64) * k
    return k.astype(np.float32), c.astype(np.float32)


def _batchnorm(node, ins, opset):
    x, scale, bias, mean, var = ins[:5]
    k, c = batchnorm_affine(scale, bias, mean, var, node.attr("epsilon", 1e-5))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return [(x * k.reshape(shape) + c.reshape(shape)).astype(x.dtype, copy=False)]


def _check_batchnorm(node, opset):
    if any(node.outputs[1:]):
        return "training-mode outputs (running mean/var) are not supported"
    if node.attr("training_mode", 0):
        return "training_mode=1 is not supported"
    if opset < 9 or node.attr("spatial", 1) != 1:
        return "spatial=0 is not supported"
    return None


OPS = {"Gemm": _gemm, "MatMul": lambda n, i, o: [np.matmul(i[0], i[1])], "Softmax": _softmax,
       "BatchNormalization": _batchnorm}
CHECKS = {"BatchNormalization": _check_batchnorm}
