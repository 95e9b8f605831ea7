"""The loop nests of cl_gemm under a 1x1 conv (im2col/c): the packed path and the two that read the
input in place (a tall wide tile for few output channels, a long one (AVX-512) for many, a narrow transposed tile
for small maps). The rule
in gemm.c picks one by shape; here each is forced in turn (cl_gemm_force_path) under every ISA this
CPU runs, and must match the oracle and give the same bits as the others (each output is one FMA
chain in k order) at 1, 2 and 4 threads."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.api import ConvPlan
from convlab.kernels.c import _ffi
from convlab.spec import ConvSpec

from conv_oracle import assert_conv_close

pytestmark = pytest.mark.skipif(_ffi.unavailable() is not None, reason=str(_ffi.unavailable()))

ACTS = [None, "relu", "relu6", ("leaky_relu", 0.1), "prelu", "sigmoid", "hardswish"]
PATHS = ("wide", "long", "narrow", "packed", "auto")


def _force(path):
    lib = _ffi.lib
    code = {"auto": lib.CL_GEMM_AUTO, "packed": lib.CL_GEMM_PACKED, "wide": lib.CL_GEMM_WIDE,
            "narrow": lib.CL_GEMM_NARROW, "long": lib.CL_GEMM_LONG}[path]
    assert lib.cl_gemm_force_path(code) == lib.CL_OK


def _check(c_in, c_out, h, w, act, seed):
    rng = np.random.default_rng(seed)
    if act == "prelu":
        act = ("prelu", rng.uniform(-1, 1, c_out).astype(np.float32))
    spec = ConvSpec.build(c_in, c_out, 1, 1, activation=act, has_bias=True)
    x = rng.standard_normal((1, c_in, h, w), dtype=np.float32)
    wt = rng.standard_normal(spec.weight_shape, dtype=np.float32)
    b = rng.standard_normal(c_out, dtype=np.float32)
    try:
        for isa in _ffi.isa_names():
            _ffi.set_isa(isa)
            plans = {t: ConvPlan.from_spec(spec, wt, b, algo="im2col", backend="c", threads=t) for t in (1, 2, 4)}
            first = None
            for path in PATHS:
                _force(path)
                for t, plan in plans.items():
                    y = plan(x)
                    label = f"{path} [{isa}, {t} threads] {c_in}->{c_out} {h}x{w}"
                    if first is None:
                        assert_conv_close(y, x, wt, b, spec, 1.0, label=label)
                        first = y
                    elif not (path in ("packed", "auto") and h * w <= 2):   # the packed path's GEMV sums in its own order
                        np.testing.assert_array_equal(y, first, err_msg=label)
                    else:
                        assert_conv_close(y, x, wt, b, spec, 1.0, label=label)
    finally:
        _force("auto")
        _ffi.set_isa(None)


@pytest.mark.parametrize("c_in, c_out, h, w", [
    (1, 1, 1, 1), (1, 40, 3, 5), (32, 16, 12, 40), (144, 24, 9, 21), (17, 33, 7, 7),   # K = 1, M 1..40, odd N
    (300, 37, 2, 3), (512, 64, 14, 14), (16, 96, 5, 17), (9, 130, 1, 15), (70, 23, 1, 2),   # K > KC, N > tile
])
def test_every_path_agrees(c_in, c_out, h, w):
    _check(c_in, c_out, h, w, "prelu", c_in * 7 + h)


@settings(max_examples=25)
@given(c_in=st.integers(1, 70), c_out=st.integers(1, 70), h=st.integers(1, 20), w=st.integers(1, 40),
       act=st.sampled_from(ACTS), seed=st.integers(0, 2**16))
def test_every_path_agrees_drawn(c_in, c_out, h, w, act, seed):
    _check(c_in, c_out, h, w, act, seed)
