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
    (lambda P: P.from_spec(_spec(), W, algo="direct", threads=0), "threads must be an int from 1"),
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


# Issue 16: parameters that int() would coerce are refused, naming the parameter.
COERCED = {
    "stride string": (dict(stride="12"), "stride must be"),
    "stride float": (dict(stride=1.0), "stride must be"),
    "stride bool": (dict(stride=True), "stride must be"),
    "stride numpy float": (dict(stride=np.float32(2)), "stride must be"),
    "stride 3 values": (dict(stride=(1, 1, 1)), "stride must be"),
    "stride 1 value": (dict(stride=[2]), "stride must be"),
    "padding float pair": (dict(padding=(1.7, 0.9)), "padding must be"),
    "padding bool": (dict(padding=True), "padding must be"),
    "padding string": (dict(padding="1"), "padding must be"),
    "padding float array": (dict(padding=np.array([1.0, 1.0])), "padding must be"),
    "dilation float": (dict(dilation=(1, 1.5)), "dilation must be"),
    "dilation none": (dict(dilation=None), "dilation must be"),
    "groups float": (dict(groups=1.0), "groups must be"),
    "groups bool": (dict(groups=True), "groups must be"),
    "threads float": (dict(threads=1.0), "threads must be"),
    "threads 2**31": (dict(threads=2**31), "threads must be"),
    "threads 0": (dict(threads=0), "threads must be"),
}


@pytest.mark.parametrize("backend", ["numba", "c"])
@pytest.mark.parametrize("case", COERCED, ids=str)
def test_coercible_parameter_is_refused_not_coerced(case, backend):
    kwargs, message = COERCED[case]
    with pytest.raises(ConvInputError, match=message):
        convlab.conv2d(X, W, backend=backend, algo="direct", **kwargs)


def test_numpy_ints_are_still_accepted():
    y = convlab.conv2d(X, W, stride=np.int64(1), padding=(np.int32(1), 1), dilation=[1, 1], algo="direct")
    assert y.shape == (1, 4, 8, 8)


# Issue 16, item 1: an out= a C kernel cannot write (read-only) or that overlaps the input segfaulted
# (rc 139) or silently wrote into an immutable bytes object / gave wrong answers (max error 110).
ALGOS = [(e.algo, e.backend) for e in convlab.registry.entries() if e.unavailable() is None]


def _plan(algo, backend):
    groups = 3 if algo == "depthwise" else 1
    w = np.random.default_rng(0).standard_normal((3, 3 // groups, 3, 3)).astype(np.float32)
    try:
        return convlab.prepare_conv(w, padding=1, groups=groups, algo=algo, backend=backend)
    except convlab.errors.UnsupportedConvError:
        pytest.skip(f"{algo}/{backend} does not support 3->3 3x3")


@pytest.mark.parametrize("algo,backend", ALGOS, ids=lambda v: str(v))
def test_read_only_out_is_refused(algo, backend, tmp_path):
    plan = _plan(algo, backend)
    x = np.ones((1, 3, 8, 8), np.float32)
    frozen = bytes(4 * 3 * 64)
    out = np.frombuffer(frozen, np.float32).reshape(1, 3, 8, 8)
    with pytest.raises(ConvInputError, match="read-only"):
        plan(x, out=out)
    assert frozen == bytes(4 * 3 * 64)
    path = tmp_path / "out.bin"
    path.write_bytes(bytes(4 * 3 * 64))
    mm = np.memmap(path, np.float32, mode="r", shape=(1, 3, 8, 8))
    with pytest.raises(ConvInputError, match="read-only"):
        plan(x, out=mm)


@pytest.mark.parametrize("algo,backend", ALGOS, ids=lambda v: str(v))
def test_out_aliasing_the_input_is_refused(algo, backend):
    plan = _plan(algo, backend)
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    with pytest.raises(ConvInputError, match="overlaps the input"):
        plan(x, out=x)
    buf = np.zeros(2 * 3 * 64 + 7, np.float32)
    xin = buf[:192].reshape(1, 3, 8, 8)
    with pytest.raises(ConvInputError, match="overlaps the input"):
        plan(xin, out=buf[7:199].reshape(1, 3, 8, 8))
    # a disjoint part of the same buffer is fine
    y = plan(xin, out=buf[192:384].reshape(1, 3, 8, 8))
    np.testing.assert_array_equal(y, plan(xin))


def test_out_wrong_kind_is_refused():
    plan = _plan("direct", "numba")
    x = np.ones((1, 3, 8, 8), np.float32)
    with pytest.raises(ConvInputError, match="out must be"):
        plan(x, out=[0.0] * 192)
    with pytest.raises(ConvInputError, match="not C-contiguous"):
        plan(x, out=np.zeros((1, 3, 8, 16), np.float32)[..., ::2])


def test_huge_output_is_refused_with_the_figure_not_allocated():
    # 1x1x3000x3000 into 4096 channels needs 147 GB of output: refused before allocation.
    x = np.zeros((1, 1, 3000, 3000), np.float32)
    for backend in ("numba", "c"):
        plan = convlab.prepare_conv(np.zeros((4096, 1, 1, 1), np.float32), algo="direct", backend=backend)
        with pytest.raises(ConvInputError, match=r"needs 147\.5 GB of output and scratch memory, this machine has"):
            plan(x)


@pytest.mark.parametrize("algo", [e.algo for e in convlab.registry.entries("c")])
def test_c_wrappers_refuse_a_read_only_out_even_below_the_api(algo):
    """Defence in depth: a caller of a registry entry's prepare() (sweeps, regress) never reaches C
    with a read-only output."""
    from convlab.spec import ConvSpec
    e = convlab.registry.get(algo, "c")
    if e.unavailable():
        pytest.skip(e.unavailable())
    groups = 3 if algo == "depthwise" else 1
    spec = ConvSpec.build(3, 3, 3, 3, padding=1, groups=groups)
    if not e.supports(spec):
        pytest.skip("shape not supported")
    run = e.prepare(spec, np.ones(spec.weight_shape, np.float32), None, 1)
    frozen = bytes(4 * 192)
    with pytest.raises(ConvInputError, match="read-only"):
        run(np.ones((1, 3, 8, 8), np.float32), np.frombuffer(frozen, np.float32).reshape(1, 3, 8, 8))
    assert frozen == bytes(4 * 192)
