"""The oracle: plain NumPy, float64 accumulation, no cleverness. Every kernel is tested against it.

One tap at a time: for kernel tap (i, j) the strided slice of the padded input it touches is
multiplied by that tap's weights and accumulated. It is slow but each line is checkable by eye
against the definition of convolution (ONNX Conv / cross-correlation).
"""
from __future__ import annotations

import numpy as np

from ..registry import Constraints, KernelEntry, register
from ..spec import ConvSpec


def conv2d_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec,
                     acc=np.float64) -> np.ndarray:
    n, c, h, wd = x.shape
    oh, ow = spec.output_hw(h, wd)
    top, left, bottom, right = spec.padding
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    xp = np.zeros((n, c, h + top + bottom, wd + left + right), acc)
    xp[:, :, top:top + h, left:left + wd] = x
    cig, cog = c // spec.groups, spec.c_out // spec.groups
    y = np.zeros((n, spec.c_out, oh, ow), acc)
    for g in range(spec.groups):
        xg = xp[:, g * cig:(g + 1) * cig]
        wg = w[g * cog:(g + 1) * cog].astype(acc)
        for i in range(spec.kh):
            for j in range(spec.kw):
                patch = xg[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
                y[:, g * cog:(g + 1) * cog] += np.einsum("oc,nchw->nohw", wg[:, :, i, j], patch)
    if b is not None:
        y += b.astype(acc)[None, :, None, None]
    return spec.activation(y)


def _prepare(spec: ConvSpec, w: np.ndarray, b: np.ndarray | None, threads: int):
    def run(x: np.ndarray, out: np.ndarray) -> None:
        out[...] = conv2d_reference(x, w, b, spec)
    return run


register(KernelEntry("reference", "numpy", _prepare, Constraints(),
                     "NumPy, one tap at a time, float64 accumulation: the oracle", error_factor=0.0))
