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


# ConvPlan.from_spec: the one way into a prepared kernel for code holding a ConvSpec (engine,
# sweeps, regress, bench) makes the same checks as prepare_conv.


def _spec(**kw):
    from convlab.spec import ConvSpec
    return ConvSpec.build(3, 4, 3, 3, padding=1, **kw)


@pytest.mark.parametrize("call, match", [
    (lambda P: P.from_spec(_spec(), np.zeros((4, 5, 3, 3), np.float32), algo="direct"), "do not fit"),
    (lambda P: P.from_spec(_spec(), W, np.zeros(4, np.float32), algo="direct"), "has no bias"),
    (lambda P: P.from_spec(_spec(has_bias=True), W, algo="direct"), "expects bias"),
    (lambda P: P.from_spec(_spec(), W, algo="direct", threads=0), "threads must be a positive int"),
    (lambda P: P.from_spec(_spec(), W, algo="auto", backend="cuda"), "unknown backend"),
    (lambda P: P.from_spec(_spec(), W, algo="no_such_kernel"), "unknown kernel"),
    (lambda P: P.from_spec(_spec(), W, algo="direct").bind(X, out=np.zeros((1, 4, 5, 5), np.float32)),
     "out must be"),
])
def test_from_spec_checks_what_prepare_conv_checks(call, match):
    from convlab.api import ConvPlan
    with pytest.raises(ConvInputError, match=match):
        call(ConvPlan)


def test_from_spec_refuses_a_kernel_outside_its_constraints():
    from convlab.api import ConvPlan
    from convlab.errors import UnsupportedConvError
    with pytest.raises(UnsupportedConvError):
        ConvPlan.from_spec(_spec(), W, algo="depthwise")


def test_from_spec_and_bind_match_prepare_conv():
    from convlab.api import AutoPlan, ConvPlan
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 3, 8, 8), dtype=np.float32), rng.standard_normal((4, 3, 3, 3), dtype=np.float32)
    want = convlab.prepare_conv(w, padding=1, algo="direct")(x)
    plan = ConvPlan.from_spec(_spec(), w, algo="direct")
    assert plan.algo == "direct" and isinstance(ConvPlan.from_spec(_spec(), w), AutoPlan)
    run = plan.bind(x)
    np.testing.assert_array_equal(run(), want)
    out = run()
    x[:] = 0                                        # bound to x: refilling it in place is seen
    assert run() is out and not out.any()
