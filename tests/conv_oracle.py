"""How the tests decide a kernel's output is right: an elementwise error bound, not a loose allclose.

For a dot product of K terms computed in float32 in any order, |fl(s) - s| <= K * eps * sum|terms|
(first order). So every output element gets its own bound from the same convolution run on |x|, |w|
and |b|. A kernel's ``error_factor`` scales K*eps: 1 for direct/GEMM summation; larger for Winograd,
whose input/output transforms add and subtract before and after the products, so rounding acts on
values larger than the terms themselves (each kernel states and justifies its factor).
Activations are Lipschitz: the bound is carried through by the activation's worst slope.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from convlab.activation import Activation
from convlab.kernels.reference import conv2d_reference
from convlab.spec import ConvSpec

EPS = float(np.finfo(np.float32).eps)


def lipschitz(a: Activation, c_out: int) -> float:
    if a.kind in ("leaky_relu", "prelu"):
        return max(1.0, float(np.abs(a.slopes_for(c_out)).max()))
    return 1.5 if a.kind == "hardswish" else 1.0


def error_bound(x, w, b, spec: ConvSpec, error_factor: float) -> np.ndarray:
    linear = dataclasses.replace(spec, activation=Activation())
    aw = np.abs(w)
    if error_factor > 1:
        # A transform kernel mixes every tap of a filter into each transformed weight, so rounding acts
        # on the filter's largest tap even where padding leaves one small tap in the receptive field
        # (hypothesis: a 1x1 input, pad 2, error 1.4x the per-tap bound).
        aw = np.broadcast_to(aw.max(axis=(2, 3), keepdims=True), aw.shape)
    absconv = conv2d_reference(np.abs(x), np.ascontiguousarray(aw), None if b is None else np.abs(b), linear)
    k = (spec.c_in // spec.groups) * spec.kh * spec.kw + 1
    exact = conv2d_reference(x, w, b, spec)
    # + |exact| * eps: the final rounding to float32 (and the activation's own, e.g. exp in sigmoid).
    return EPS * (lipschitz(spec.activation, spec.c_out) * max(error_factor, 1.0) * k * absconv
                  + 4 * np.abs(exact)) + 1e-30


def assert_conv_close(y, x, w, b, spec: ConvSpec, error_factor: float, other_bound=None, label=""):
    exact = conv2d_reference(x, w, b, spec)
    assert y.shape == exact.shape, f"{label}: shape {y.shape} != expected {exact.shape}"
    assert y.dtype == np.float32, f"{label}: dtype {y.dtype}"
    bound = error_bound(x, w, b, spec, error_factor)
    if other_bound is not None:
        bound = bound + other_bound
    err = np.abs(y.astype(np.float64) - exact)
    bad = ~(err <= bound)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err / bound, -1)), y.shape)
        raise AssertionError(
            f"{label} {spec.describe()} input {x.shape}: {bad.sum()} of {y.size} outputs outside the bound; "
            f"worst at {i}: got {y[i]!r}, exact {exact[i]!r}, error {err[i]:.3g} > bound {bound[i]:.3g}")
    return float((err / bound).max()) if err.size else 0.0
