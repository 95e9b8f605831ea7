"""Winograd F(2x2,3x3)'s error bound: derived from its transform matrices, holds, and is tight."""
from __future__ import annotations

import numpy as np
import pytest

import convlab
from convlab.kernels.numba import winograd_f23 as wg
from convlab.kernels.reference import conv2d_reference
from convlab.spec import ConvSpec

from conv_oracle import EPS, assert_conv_close


def _amplification_1d() -> float:
    """max_i sum_t |A^T|_it (|G| 1)_t (|B^T| 1)_t over the direct sum's 3 terms (see the module docstring)."""
    g_rows = np.abs(wg.G).sum(axis=1)
    b_rows = np.abs(wg.BT).sum(axis=1)
    return float((np.abs(wg.AT) @ (g_rows * b_rows)).max() / 3)


def test_error_factor_is_the_derived_one():
    amp = _amplification_1d()
    assert amp == pytest.approx(8 / 3)
    derived = amp ** 2 * 13 / 10      # 2-D amplification x (C_in + 12) / (9 C_in + 1) at C_in = 1
    assert derived <= wg.ERROR_FACTOR <= 1.2 * derived


def _case(c_in, c_out, h, w, padding, seed=0):
    rng = np.random.default_rng(seed)
    spec = ConvSpec.build(c_in, c_out, 3, 3, padding=padding, has_bias=True)
    x = rng.standard_normal((2, c_in, h, w), dtype=np.float32)
    wt = (rng.standard_normal(spec.weight_shape, dtype=np.float32) / np.sqrt(9 * c_in)).astype(np.float32)
    b = rng.standard_normal(c_out, dtype=np.float32)
    return spec, x, wt, b


def _run(spec, x, wt, b, g=wg.G):
    out = np.empty((x.shape[0], spec.c_out) + spec.output_hw(*x.shape[2:]), np.float32)
    wg.prepare_with(spec, wt, b, 1, g)(x, out)
    return out


@pytest.mark.parametrize("c_in,c_out,h,w,padding", [(1, 3, 7, 9, 1), (4, 5, 13, 6, (0, 2, 1, 0)),
                                                    (64, 8, 10, 11, 1), (3, 70, 5, 5, 2)])
def test_bound_holds_with_the_exact_transform(c_in, c_out, h, w, padding):
    spec, x, wt, b = _case(c_in, c_out, h, w, padding)
    assert_conv_close(_run(spec, x, wt, b), x, wt, b, spec, wg.ERROR_FACTOR, label="winograd_f23")


@pytest.mark.parametrize("c_in,c_out,h,w,padding", [(1, 3, 7, 9, 1), (5, 4, 6, 13, (0, 2, 1, 0)), (3, 2, 2, 2, 3)])
def test_numba_transforms_match_the_plain_algorithm(c_in, c_out, h, w, padding):
    """Isolates the tile transforms and the batched GEMM from the bias/activation epilogue; the plain
    version itself matches direct convolution (to float64 rounding), so both state the same thing."""
    spec, x, wt, _ = _case(c_in, c_out, h, w, padding)
    plain = wg.winograd_reference(x, wt, spec)
    np.testing.assert_allclose(plain, conv2d_reference(x, wt, None, spec), rtol=1e-12, atol=1e-12)
    bound = wg.ERROR_FACTOR * (9 * c_in + 1) * EPS * conv2d_reference(np.abs(x), np.abs(wt), None, spec)
    assert (np.abs(_run(spec, x, wt, None) - plain) <= bound).all()


@pytest.mark.parametrize("entry,delta", [((1, 1), 1e-4), ((2, 0), -1e-3), ((3, 2), 1e-3)])
def test_bound_is_tight_enough_to_catch_a_slightly_wrong_transform(entry, delta):
    spec, x, wt, b = _case(4, 5, 12, 12, 1)
    bad = wg.G.copy()
    bad[entry] += delta
    with pytest.raises(AssertionError, match="outside the bound"):
        assert_conv_close(_run(spec, x, wt, b, bad), x, wt, b, spec, wg.ERROR_FACTOR, label="bad winograd")


def test_unsupported_shapes_are_named():
    w = np.ones((4, 4, 3, 3), np.float32)
    x = np.ones((1, 4, 8, 8), np.float32)
    for kw, constraint in ((dict(stride=2), "stride"), (dict(dilation=2), "dilation")):
        with pytest.raises(convlab.errors.UnsupportedConvError, match=constraint):
            convlab.conv2d(x, w, algo="winograd_f23", **kw)
