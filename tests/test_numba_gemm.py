"""The Numba SGEMM against its plain version, on the edges its blocking creates; the fused epilogue."""
from __future__ import annotations

import numba
import numpy as np
import pytest

import convlab
from convlab.activation import ACT_NONE, parse_activation
from convlab.kernels.numba.epilogue import bias_act, epilogue_args
from convlab.kernels.numba.gemm import KC, MR, NC, pack_a, sgemm, sgemm_reference, workspace
from convlab.kernels.numba.support import Workspace, numba_threads

EPS = float(np.finfo(np.float32).eps)


@pytest.mark.parametrize("batch,m,k,n", [(1, 1, 1, 1), (2, MR + 1, 3, 5), (1, 3 * MR, KC + 5, NC + 7),
                                         (3, 7, 2 * KC + 1, 2 * NC), (1, 33, 18, 300)])
def test_sgemm_matches_reference_within_the_summation_bound(batch, m, k, n):
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((batch, m, k), dtype=np.float32)
    b = rng.standard_normal((batch, k, n), dtype=np.float32)
    c = np.full((batch, m, n), np.nan, np.float32)
    zeros = np.zeros((batch, m), np.float32)
    ap = pack_a(a)
    sgemm(ap, m, b, c, zeros, ACT_NONE, zeros, *workspace(Workspace(), ap, k))
    exact = sgemm_reference(a, b)
    bound = k * EPS * sgemm_reference(np.abs(a), np.abs(b)) + 1e-30
    assert (np.abs(c - exact) <= bound).all()


def test_sgemm_is_identical_across_thread_counts():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 9, 300), dtype=np.float32)
    b = rng.standard_normal((2, 300, 3 * NC + 5), dtype=np.float32)
    zeros = np.zeros((2, 9), np.float32)
    outs = []
    for threads in (1, 2):
        c = np.empty((2, 9, b.shape[2]), np.float32)
        ap = pack_a(a)
        with numba_threads(threads):
            sgemm(ap, 9, b, c, zeros, ACT_NONE, zeros, *workspace(Workspace(), ap, 300))
        outs.append(c)
    np.testing.assert_array_equal(*outs)


def test_numba_threads_restores_the_previous_count():
    before = numba.get_num_threads()
    with numba_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


@numba.njit
def _apply(v, bias, code, slopes):
    out = np.empty_like(v)
    for i in range(v.size):
        out[i] = bias_act(v[i], bias[i], code, slopes[i])
    return out


@pytest.mark.parametrize("act", [None, "relu", "relu6", ("leaky_relu", 0.2), ("prelu", [0.5, -1.0, 2.0, 0.1, 0, 3, 1, 1]),
                                 "sigmoid", "hardswish"])
def test_epilogue_matches_the_reference_activation_including_nan_and_inf(act):
    a = parse_activation(act)
    v = np.array([-7.0, -2.5, -0.0, 0.0, 1.5, 8.0, np.nan, np.inf], np.float32)
    b = np.linspace(-1, 1, v.size).astype(np.float32)
    bias, code, slopes = epilogue_args(a, b, v.size)
    got = _apply(v, bias, code, slopes)
    want = a((v.astype(np.float64) + b)[None, :, None, None])[0, :, 0, 0]
    np.testing.assert_allclose(got, want, rtol=4 * EPS, atol=1e-7, equal_nan=True)


@pytest.mark.parametrize("algo", ["im2col", "im2col_blas"])
def test_pointwise_conv_goes_straight_to_gemm(algo, monkeypatch):
    """1x1 stride-1 unpadded: no unfolding (im2col is never called) and still the right answer."""
    from convlab.kernels.numba import im2col as mod
    calls = []
    monkeypatch.setattr(mod, "im2col", lambda *a: calls.append(a))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 5, 7), dtype=np.float32)
    w = rng.standard_normal((8, 3, 1, 1), dtype=np.float32)
    y = convlab.conv2d(x, w, groups=2, algo=algo, backend="numba")
    ref = convlab.conv2d(x, w, groups=2, algo="reference", backend="numpy")
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert not calls
