"""Bad arguments to convlab.conv2d / prepare_conv: each is a ConvInputError naming what is wrong,
on every backend, before any kernel runs (a kernel never sees an argument it cannot index)."""
import numpy as np
import pytest

import convlab
from convlab.errors import ConvInputError

X = np.zeros((1, 3, 8, 8), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)

CASES = {
    "float64 input": (lambda **k: convlab.conv2d(X.astype(np.float64), W, **k), "must be float32"),
    "float64 weights": (lambda **k: convlab.conv2d(X, W.astype(np.float64), **k), "must be float32"),
    "rank 3 input": (lambda **k: convlab.conv2d(X[0], W, **k), "rank 4"),
    "mismatched channels": (lambda **k: convlab.conv2d(X, np.zeros((4, 5, 3, 3), np.float32), **k),
                            "3 channels but the weights expect 5"),
    "groups not dividing": (lambda **k: convlab.conv2d(X, W, groups=3, **k), "groups=3 must divide"),
    "empty batch": (lambda **k: convlab.conv2d(np.zeros((0, 3, 8, 8), np.float32), W, **k), "empty dimension"),
    "negative stride": (lambda **k: convlab.conv2d(X, W, stride=-1, **k), "stride must be >= 1"),
    "kernel larger than input": (lambda **k: convlab.conv2d(X, np.zeros((4, 3, 9, 9), np.float32), **k),
                                 "output would be 0x0"),
    "huge padding": (lambda **k: convlab.conv2d(X, W, padding=10**6, **k), "above 2\\*\\*31-1"),
    "padding beyond int": (lambda **k: convlab.conv2d(X, W, padding=2**40, **k), "below 2\\*\\*31"),
    "stride beyond int": (lambda **k: convlab.conv2d(X, W, stride=2**40, **k), "below 2\\*\\*31"),
    "wrong out buffer": (lambda **k: convlab.prepare_conv(W, **k)(X, out=np.zeros((1, 4, 5, 5), np.float32)),
                         "out must be"),
}


@pytest.mark.parametrize("backend", ["numba", "c"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_argument_is_a_named_input_error(case, backend):
    missing = convlab.registry.get("im2col", "c").unavailable() if backend == "c" else None
    if missing:
        pytest.skip(f"C kernels not built: {missing}")
    call, message = CASES[case]
    with pytest.raises(ConvInputError, match=message):
        call(backend=backend)
