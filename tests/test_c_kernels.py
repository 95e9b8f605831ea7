"""What the generic kernel tests cannot see for backend "c": every micro-kernel this CPU can run
(the generic tests only exercise the one cpuid picks), and the C side's own argument checks."""
import numpy as np
import pytest

import convlab
from convlab import registry
from convlab.errors import ConvlabError
from convlab.kernels.c import _ffi
from convlab.spec import ConvSpec

from conv_oracle import assert_conv_close

pytestmark = pytest.mark.skipif(_ffi.unavailable() is not None, reason=str(_ffi.unavailable()))

# (c_in, c_out, k, stride, padding, dilation, groups, h, w, activation)
CASES = [
    (37, 29, 1, 1, 0, 1, 1, 13, 21, "relu"),               # plain GEMM, edge tiles
    (300, 20, 1, 1, 0, 1, 1, 5, 9, ("prelu", np.linspace(-1, 1, 20, dtype=np.float32))),  # K > KC
    (16, 40, 1, 1, 0, 1, 1, 24, 30, "hardswish"),          # N > NC
    (7, 9, 3, 1, 1, 1, 1, 13, 10, "relu6"),
    (6, 10, 3, 2, (0, 2, 1, 0), 1, 2, 11, 14, "sigmoid"),
    (5, 4, 3, 1, 2, 2, 1, 12, 9, None),
    (24, 24, 3, 1, 1, 1, 24, 9, 53, ("leaky_relu", 0.2)),  # depthwise s1, vector interior + edges
    (16, 16, 3, 2, (2, 0, 1, 2), 1, 16, 15, 99, "relu"),   # depthwise s2
    (20, 20, 7, 1, 0, 1, 20, 7, 7, ("prelu", np.linspace(-1, 1, 20, dtype=np.float32))),  # global depthwise
    (12, 12, 5, 2, (2, 1, 2, 2), 1, 12, 14, 19, "hardswish"),  # depthwise 5x5 s2
    (8, 8, 3, 1, 2, 2, 8, 10, 11, "relu6"),                # depthwise dilated: the general kernel
    (300, 37, 1, 1, 0, 1, 1, 1, 1, "sigmoid"),             # GEMV: 1x1 conv on a 1x1 map
]


@pytest.fixture(params=_ffi.isa_names() if _ffi.unavailable() is None else [])
def isa(request):
    _ffi.set_isa(request.param)
    yield request.param
    _ffi.set_isa(None)


def _arrays(case):
    c_in, c_out, k, s, p, d, g, h, w, act = case
    rng = np.random.default_rng(c_in * 131 + h)
    spec = ConvSpec.build(c_in, c_out, k, k, stride=s, padding=p, dilation=d, groups=g, activation=act,
                          has_bias=True)
    x = rng.standard_normal((2, c_in, h, w), dtype=np.float32)
    wt = rng.standard_normal(spec.weight_shape, dtype=np.float32)
    b = rng.standard_normal(c_out, dtype=np.float32)
    return spec, x, wt, b


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}k{c[2]}s{c[3]}g{c[6]}")
def test_every_isa_matches_the_reference(isa, case):
    spec, x, wt, b = _arrays(case)
    c_in, c_out, k, s, p, d, g, h, w, act = case
    # every C kernel built from the kernel table's per-ISA code that takes this case
    entries = [e for e in registry.entries("c") if e.table_ops and e.supports(spec)]
    assert {"im2col", "direct"} <= {e.algo for e in entries}
    for e in entries:
        y = convlab.conv2d(x, wt, b, stride=s, padding=p, dilation=d, groups=g, activation=act,
                           algo=e.algo, backend="c", threads=2)
        assert_conv_close(y, x, wt, b, spec, e.error_factor, label=f"{e.name} [{isa}]")


def test_the_kernel_table_has_a_row_per_isa_and_every_c_kernel_names_its_ops():
    tables = {name: _ffi.kernel_table(name) for name in _ffi.isa_names()}
    ops = [r["op"] for r in tables["scalar"]]
    assert len(ops) == len(set(ops)) and {"gemm", "winograd", "stem", "pool", "direct"} <= set(ops)
    for name, rows in tables.items():
        assert [r["op"] for r in rows] == ops and {r["isa"] for r in rows} == {name}
        assert all(r["tile"] for r in rows)
    if "avx512" in tables:   # a wider vector shows in the tiles
        assert tables["avx512"] != tables["scalar"]
    for e in registry.entries("c"):
        assert set(e.table_ops) <= set(ops), e.name
    assert {e.algo for e in registry.entries("c") if e.table_ops} >= {"im2col", "direct", "depthwise", "stem",
                                                                      "winograd_f23"}
    _ffi.set_isa("scalar")
    try:
        assert _ffi.kernel_table() == tables["scalar"]
    finally:
        _ffi.set_isa(None)
    with pytest.raises(ConvlabError, match="not available"):
        _ffi.kernel_table("sve2")


def test_isa_names_and_forcing():
    names = _ffi.isa_names()
    assert "scalar" in names and _ffi.isa() in names
    with pytest.raises(ConvlabError, match="not available"):
        _ffi.set_isa("sve2")


def test_c_rejects_inconsistent_shapes_with_an_error_code():
    """The Python side validates first; this is the C side's own guard, reached directly."""
    lib = _ffi.lib
    spec = ConvSpec.build(4, 4, 3, 3, padding=1)
    s = _ffi.conv_shape(spec, (1, 4, 8, 8))
    s.ow += 1
    buf = np.zeros(1024, np.float32)
    assert lib.cl_direct_run(s, _ffi.fptr(buf), _ffi.fptr(buf), _ffi.fptr(buf), _ffi.ffi.NULL, 1) == lib.CL_EINVAL
    with pytest.raises(ConvlabError, match="rejected its arguments"):
        _ffi.check(lib.CL_EINVAL, "direct/c")
    with pytest.raises(MemoryError):
        _ffi.check(lib.CL_ENOMEM, "direct/c")


def test_plan_reused_across_input_sizes():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 4, 3, 3), dtype=np.float32)
    plan = convlab.prepare_conv(w, padding=1, algo="im2col", backend="c")
    for hw in ((5, 7), (16, 16), (5, 7)):
        x = rng.standard_normal((1, 4) + hw, dtype=np.float32)
        ref = convlab.conv2d(x, w, padding=1, algo="reference", backend="numpy")
        np.testing.assert_allclose(plan(x), ref, rtol=1e-4, atol=1e-4)


# Depthwise 3x3 edges: stride 1 rows come from zero-bordered copies, stride 2 rows are read in
# place with masked loads at the row ends, the last vector of a row first and the rest left to
# right (csrc/dwconv3x3_impl.h). Widths 1..20 and around whole vectors at stride 2 (AVX-512 16,
# AVX2 8, NEON 4 outputs: 2 * that input columns), heights 1..20, pads 0..2 asymmetric, a channel
# count that is a multiple of nothing.
_DW_WIDTHS = list(range(1, 21)) + [29, 31, 32, 33, 34, 35, 63, 64, 65, 66, 67]
_DW_PADS = [(1, 1, 1, 1), (0, 0, 0, 0), (0, 1, 1, 0), (1, 0, 0, 1), (2, 2, 1, 0), (0, 2, 2, 1), (1, 3, 0, 2)]


def _dw_cases(stride):
    heights = (1, 2, 3, 4, 5, 7, 8, 13, 20)
    for i, w in enumerate(_DW_WIDTHS):
        for j, h in enumerate(heights):
            pad = _DW_PADS[(i + 3 * j) % len(_DW_PADS)]
            if (h + pad[0] + pad[2] - 3) // stride + 1 >= 1 and (w + pad[1] + pad[3] - 3) // stride + 1 >= 1:
                yield h, w, pad


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise3x3_edges_every_isa_and_thread_count(isa, stride):
    rng = np.random.default_rng(stride)
    c = 7
    slopes = np.linspace(-0.5, 1.5, c, dtype=np.float32)
    wt = rng.standard_normal((c, 1, 3, 3), dtype=np.float32)
    b = rng.standard_normal(c, dtype=np.float32)
    for h, w, pad in _dw_cases(stride):
        spec = ConvSpec.build(c, c, 3, 3, stride=stride, padding=pad, groups=c, activation=("prelu", slopes),
                              has_bias=True)
        x = rng.standard_normal((2, c, h, w), dtype=np.float32)
        ys = [convlab.conv2d(x, wt, b, stride=stride, padding=pad, groups=c, activation=("prelu", slopes),
                             algo="depthwise", backend="c", threads=t) for t in (1, 2, 4)]
        assert_conv_close(ys[0], x, wt, b, spec, 1.0, label=f"depthwise/c [{isa}] {h}x{w} pad {pad}")
        for y in ys[1:]:
            np.testing.assert_array_equal(y, ys[0], err_msg=f"[{isa}] {h}x{w} pad {pad}: threads change the result")
