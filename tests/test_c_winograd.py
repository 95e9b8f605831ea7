"""What the generic kernel tests cannot see about the C Winograd kernels (every ISA build of the tile
transforms against the plain matrices is checked by csrc/tests/test_kernels.c, natively, under ASan
and under qemu: tests/test_c_qemu.py): the stated error factors against measured error (and
that they are tight enough to catch a wrong transform), the direct border outputs, bad arguments."""
from __future__ import annotations

import numpy as np
import pytest

import convlab
from convlab import registry
from convlab.errors import UnsupportedConvError
from convlab.kernels.reference import conv2d_reference
from convlab.spec import ConvSpec

from conv_oracle import assert_conv_close, error_bound

_ffi = pytest.importorskip("convlab.kernels.c._ffi")
if _ffi.unavailable():
    pytest.skip(_ffi.unavailable(), allow_module_level=True)
from convlab.kernels.c import winograd  # noqa: E402

TILES = (2, 4, 6)
ISAS = _ffi.isa_names()


def _entry(m):
    return registry.get(f"winograd_f{m}3", "c")


def _case(rng, c_in, c_out, h, w, n=1):
    x = rng.standard_normal((n, c_in, h, w), dtype=np.float32)
    wt = (rng.standard_normal((c_out, c_in, 3, 3), dtype=np.float32) / np.sqrt(9 * c_in)).astype(np.float32)
    b = rng.standard_normal(c_out, dtype=np.float32)
    return x, wt, b


def test_error_factors_come_from_the_c_header():
    assert sorted(winograd.ERROR_FACTORS) == list(TILES)
    assert all(_entry(m).error_factor == winograd.ERROR_FACTORS[m] >= 1 for m in TILES)
    assert _ffi.lib.cl_winograd_error_factor(3) == -1.0


def test_matrices_compute_a_correlation():
    """A^T [(G g) . (B^T d)] = d correlated with g, exactly (in float64) for every tile size."""
    rng = np.random.default_rng(3)
    for m in TILES:
        at, g, bt = winograd.matrices(m)
        d, k = rng.standard_normal(m + 2), rng.standard_normal(3)
        want = np.array([d[i:i + 3] @ k for i in range(m)])
        np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("m", TILES)
def test_every_isa_build_matches_the_oracle(m, isa):
    """The generic tests run the cpuid choice; force each ISA this CPU has (odd sizes, padding,
    partial tiles, a batch whose tiles span images, every activation)."""
    rng = np.random.default_rng(m)
    cases = [(3, 5, 7, 9, 1, None), (17, 9, 13, 11, (0, 2, 1, 3), "relu6"), (8, 16, 20, 23, 1, ("prelu", 0.25)),
             (5, 4, 6, 6, 0, "sigmoid"), (6, 7, 1, 9, 2, "hardswish")]
    try:
        _ffi.set_isa(isa)
        for c_in, c_out, h, w, pad, act in cases:
            x, wt, b = _case(rng, c_in, c_out, h, w, n=2)
            spec = ConvSpec.build(c_in, c_out, 3, 3, padding=pad, activation=act, has_bias=True)
            y = convlab.conv2d(x, wt, b, padding=pad, activation=act, algo=f"winograd_f{m}3", backend="c")
            assert_conv_close(y, x, wt, b, spec, _entry(m).error_factor, label=f"F({m},3) {isa}")
    finally:
        _ffi.set_isa(None)


def measured_ratio(m, c_in, trials, seed):
    """Worst |error| / (factor-1 oracle bound) over random normal convs with c_in channels."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(trials):
        h, w = (int(v) for v in rng.integers(3, 16, 2))
        pad = tuple(int(v) for v in rng.integers(0, 4, 4))
        x, wt, b = _case(rng, c_in, 3, h, w)
        spec = ConvSpec.build(c_in, 3, 3, 3, padding=pad, has_bias=True)
        y = convlab.conv2d(x, wt, b, padding=pad, algo=f"winograd_f{m}3", backend="c")
        err = np.abs(y.astype(np.float64) - conv2d_reference(x, wt, b, spec))
        worst = max(worst, float((err / error_bound(x, wt, b, spec, 1.0)).max()))
    return worst


@pytest.mark.parametrize("m", TILES)
def test_error_factor_covers_the_measured_error_with_margin(m):
    factor = _entry(m).error_factor
    worst = max(measured_ratio(m, c, 40, seed=c) for c in (1, 2, 8, 32))
    assert worst <= factor / 2, f"F({m},3): measured {worst:.3g} leaves no margin under the factor {factor}"
    assert factor <= max(1.0, winograd.rigorous_factor(m, 1)), "the factor exceeds the first-order worst case"


def winograd_numpy(x, w, b, m, mats):
    """The plain Winograd algorithm in float32 NumPy, padding 1, with the given matrices."""
    at, g, bt = mats
    n, c, h, wd = x.shape
    a = m + 2
    ty, tx = -(-h // m), -(-wd // m)
    xp = np.zeros((n, c, ty * m + 2, tx * m + 2), np.float32)
    xp[:, :, 1:h + 1, 1:wd + 1] = x
    d = np.stack([np.stack([xp[:, :, i * m:i * m + a, j * m:j * m + a] for j in range(tx)], 2)
                  for i in range(ty)], 2)                                        # n c ty tx a a
    u = np.einsum("ir,ocrs,js->ocij", g, w.astype(np.float64), g).astype(np.float32)
    bt32, at32 = bt.astype(np.float32), at.astype(np.float32)
    v = np.einsum("ir,nctxrs,js->nctxij", bt32, d, bt32)
    mm = np.einsum("ocij,nctxij->notxij", u, v)
    y = np.einsum("pi,notxij,qj->notpxq", at32, mm, at32).reshape(n, -1, ty * m, tx * m)
    return (y[:, :, :h, :wd] + b[None, :, None, None]).astype(np.float32)


@pytest.mark.parametrize("m", TILES)
def test_a_perturbed_transform_is_caught(m):
    """The plain algorithm passes the oracle with the registered factor; the same with the largest
    constant of one matrix off by 1% does not (measured: caught from 0.01% for F(2,3), 0.1-0.3% for
    F(4,3) and F(6,3)), so the factor is tight enough to catch a wrong transform."""
    rng = np.random.default_rng(11)
    x, wt, b = _case(rng, 8, 8, 14, 15)
    spec = ConvSpec.build(8, 8, 3, 3, padding=1, has_bias=True)
    factor = _entry(m).error_factor
    at, g, bt = winograd.matrices(m)
    assert_conv_close(winograd_numpy(x, wt, b, m, (at, g, bt)), x, wt, b, spec, factor, label="plain")
    for name in ("at", "g", "bt"):
        mats = {"at": at.copy(), "g": g.copy(), "bt": bt.copy()}
        big = np.unravel_index(np.argmax(np.abs(mats[name])), mats[name].shape)
        mats[name][big] *= 1 + 1e-2
        y = winograd_numpy(x, wt, b, m, (mats["at"], mats["g"], mats["bt"]))
        with pytest.raises(AssertionError, match="outside the bound"):
            assert_conv_close(y, x, wt, b, spec, factor, label=f"perturbed {name}")


@pytest.mark.parametrize("m", TILES)
def test_wide_padding_and_thin_inputs_use_exact_border_outputs(m):
    """Outputs whose window sees at most one input row/column (padding >= 2, h or w of 1) are
    computed directly: outputs over pure padding are exactly act(bias)."""
    rng = np.random.default_rng(5)
    for h, w, pad in [(9, 10, (3, 2, 4, 5)), (1, 12, 2), (7, 1, (0, 3, 1, 2)), (1, 1, 3)]:
        x, wt, b = _case(rng, 4, 3, h, w, n=2)
        spec = ConvSpec.build(4, 3, 3, 3, padding=pad, activation="relu", has_bias=True)
        y = convlab.conv2d(x, wt, b, padding=pad, activation="relu", algo=f"winograd_f{m}3", backend="c")
        assert_conv_close(y, x, wt, b, spec, _entry(m).error_factor, label=f"F({m},3) pad {pad}")
        t, l = spec.padding[:2]
        if t >= 3:
            np.testing.assert_array_equal(y[:, :, 0, :], np.broadcast_to(np.maximum(b, 0)[:, None], y[:, :, 0, :].shape))
        if l >= 3:
            np.testing.assert_array_equal(y[:, :, :, 0], np.broadcast_to(np.maximum(b, 0)[:, None], y[:, :, :, 0].shape))


def test_many_blocks_and_threads_are_bit_identical():
    """Enough tiles for several blocks per thread (the generic test's shape fits in one or two)."""
    rng = np.random.default_rng(9)
    x, wt, b = _case(rng, 24, 40, 61, 67, n=3)
    for m in TILES:
        ys = [convlab.conv2d(x, wt, b, padding=1, algo=f"winograd_f{m}3", backend="c", threads=t) for t in (1, 2, 3)]
        np.testing.assert_array_equal(ys[0], ys[1])
        np.testing.assert_array_equal(ys[0], ys[2])


def test_unsupported_convs_are_named_errors_and_c_rejects_bad_shapes():
    x = np.ones((1, 4, 8, 8), np.float32)
    with pytest.raises(UnsupportedConvError, match="stride"):
        convlab.conv2d(x, np.ones((4, 4, 3, 3), np.float32), stride=2, algo="winograd_f63", backend="c")
    with pytest.raises(UnsupportedConvError, match="kernel_size"):
        convlab.conv2d(x, np.ones((4, 4, 5, 5), np.float32), algo="winograd_f43", backend="c")
    ffi, lib = _ffi.ffi, _ffi.lib
    spec = ConvSpec.build(4, 4, 3, 3)
    out = ffi.new("cl_winograd **")
    w = np.ones((4, 4, 3, 3), np.float32)
    assert lib.cl_winograd_prepare(3, _ffi.conv_shape(spec, (1, 4, 8, 8)), _ffi.fptr(w), out) == lib.CL_EINVAL
    bad = _ffi.conv_shape(ConvSpec.build(4, 4, 3, 3, stride=2), (1, 4, 8, 8))
    assert lib.cl_winograd_prepare(4, bad, _ffi.fptr(w), out) == lib.CL_EINVAL
    assert lib.cl_winograd_prepare(4, _ffi.conv_shape(spec, (1, 4, 8, 8)), _ffi.fptr(w), out) == lib.CL_OK
    plan = ffi.gc(out[0], lib.cl_winograd_free)
    y = np.zeros((1, 4, 6, 6), np.float32)
    wrong = _ffi.conv_shape(ConvSpec.build(5, 4, 3, 3), (1, 5, 8, 8))   # channels it was not prepared for
    assert lib.cl_winograd_run(plan, wrong, _ffi.fptr(x), _ffi.fptr(y), ffi.NULL, 1) == lib.CL_EINVAL
    assert lib.cl_winograd_run(plan, _ffi.conv_shape(spec, (1, 4, 8, 8)), _ffi.fptr(x), _ffi.fptr(y), ffi.NULL, 0) \
        == lib.CL_EINVAL
