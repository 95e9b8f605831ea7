"""The native engine (engine/native.py + csrc/engine.c): what runs in C, that it matches the Python
executor and onnxruntime, that threads do not change a bit, and that C refuses a bad plan.

Every other engine test (ops, zoo, random graphs, conformance) runs through Model.load's default,
which is this engine; here are the properties only it has."""
from __future__ import annotations

import numpy as np
import pytest

from convlab.engine import Model
from convlab.engine.native import NativeExecutor, unavailable
from convlab.zoo import DEFAULT_MODELS, build_model

from engine_util import make_model, ort_run, rand
from test_engine_ops import CASES

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"C extension not built: {unavailable()}")

# Cases whose node may stay in Python, and why (anything else must run in C).
PYTHON_CASES = {
    "gemm_transA_opset9": "transA: the C FC op takes x as rows",
    "pad_reflect_opset11": "reflect padding", "pad_edge_opset13": "edge padding", "pad_opset21": "edge padding",
    "cast_to_int64": "integer output", "cast_to_float16": "float16 output",
    "squeeze_attr_opset11": "a view op", "unsqueeze_attr_opset9": "a view op",
    # no C lowering yet: converted TF graphs' L2 norms and PReLUs the importer could not fold
    "abs": "no C lowering", **{c: "no C lowering" for c in ("reducesum_attr_opset11", "reducesum_input_opset13",
                                                           "reducesum_all_opset13", "reducemean_attr_opset13",
                                                           "reducemean_input_opset18", "reducemax_attr_opset13")},
}


@pytest.fixture(scope="module")
def zoo():
    return {name: build_model(name) for name in DEFAULT_MODELS}


def _close(a: dict, b: dict, rtol=1e-4):
    for name in a:
        scale = max(1.0, float(np.abs(b[name]).max()))
        np.testing.assert_allclose(a[name], b[name], rtol=rtol, atol=rtol * scale, err_msg=name)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_op_runs_in_c_and_matches_the_python_executor(case):
    model = CASES[case]
    native = Model.load(model, passes="none")
    assert isinstance(native.executor, NativeExecutor)
    python_steps = [s for s in native.executor.steps if s.host == "python"]
    # Shape arithmetic (int64, folded away by the passes) is Python's by design.
    float_steps = [s for s in python_steps if "the C ops are float32" not in s.host_note]
    if case not in PYTHON_CASES:
        python_steps = float_steps
        assert not python_steps, [(s.node.op, s.host_note) for s in python_steps]
    for s in python_steps:
        assert s.host_note, "a step left in Python must say why"
    feeds = {k: rand(*shape, seed=3) for k, (shape, dtype) in native.inputs.items()}
    _close(native.run(feeds), Model.load(model, passes="none", engine="python").run(feeds))


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_zoo_model_is_one_c_call_and_matches(zoo, name):
    zm = zoo[name]
    m = Model.load(zm.model)
    assert m.options["engine"] == "native"
    assert [s.node.op for s in m.executor.steps if s.host != "c"] == []
    assert len(m.executor.segments) == 1, "no Python between layers"
    feeds = m.random_inputs(seed=1)
    got = m.run(feeds)
    expected = dict(zip(m.outputs, ort_run(zm.model, feeds)))
    for o in m.outputs:   # the bound: max abs error <= 1e-4 x max |output|
        assert np.abs(got[o] - expected[o]).max() <= 1e-4 * np.abs(expected[o]).max(), o
    _close(got, Model.load(zm.model, engine="python").run(feeds))


@pytest.mark.parametrize("name", ["detector", "extractor", "mobilenet_v2"])
def test_results_are_bit_identical_across_thread_counts(zoo, name):
    model = zoo[name].model
    one = Model.load(model, threads=1)
    feeds = one.random_inputs(seed=2)
    first = one.run(feeds)
    # The same kernels: `auto` may choose differently per thread count (the decision table is per
    # thread count); a given plan must not change a bit.
    kernels = one.kernel_overrides()
    for threads in (2, 4):
        other = Model.load(model, threads=threads, overrides=kernels).run(feeds)
        for o in first:
            np.testing.assert_array_equal(other[o], first[o], err_msg=f"{o}, {threads} threads")


def test_numba_convs_stay_python_steps_between_c_segments(zoo):
    zm = zoo["fitter"]
    m = Model.load(zm.model, backend="numba")
    hosts = {s.host for s in m.executor.steps if s.spec is not None}
    assert hosts == {"python"}
    assert any(s.host == "c" for s in m.executor.steps if s.spec is None)
    assert all("not a C kernel" in s.host_note for s in m.executor.steps if s.spec is not None)
    feeds = m.random_inputs()
    _close(m.run(feeds), Model.load(zm.model).run(feeds))


def test_profile_rows_add_up_and_say_where_each_step_ran(zoo):
    m = Model.load(zoo["detector"].model, backend="numba")
    p = m.profile(repeat=2, warmup=1, clock="cpu")
    assert abs(sum(r["ms"] for r in p.rows) - p.total_ms) < 1e-9
    assert p.rows[-1]["layer"] == "(rest)"
    assert {r["host"] for r in p.rows[:-1]} == {"c", "python"}
    assert "left to Python" in p.table()


def test_engine_python_is_the_reference_executor():
    model = make_model([], {"X": (1, 2)}, ["X"])
    assert not isinstance(Model.load(model, engine="python").executor, NativeExecutor)
    with pytest.raises(Exception, match="unknown engine"):
        Model.load(model, engine="gpu")


def _c_steps(model):
    m = Model.load(model, passes="none")
    return m.executor


@pytest.mark.parametrize("field,value,why", [
    ("out", 10**9, "outside the arena"),
    ("in0", -5, "outside the arena"),
    ("cst0", 3, "outside the constants or misaligned"),
    ("op", 99, "unknown op"),
    ("i0", 0, "inconsistent conv shape"),
])
def test_c_refuses_a_corrupt_step(field, value, why):
    """A plan is data: C checks every step's reach against the arena and constants it is given."""
    from convlab.kernels.c._ffi import ffi, lib
    W = rand(4, 3, 3, 3, seed=1)
    from onnx import helper
    model = make_model([helper.make_node("Conv", ["X", "W"], ["Y"], pads=[1, 1, 1, 1])], {"X": (1, 3, 8, 8)}, ["Y"],
                       {"W": W})
    ex = _c_steps(model)
    steps = ffi.new("cl_step[]", ex.n_records)
    ffi.memmove(steps, ex.c_steps, ffi.sizeof("cl_step") * ex.n_records)
    s = steps[0]
    if field.startswith("in"):
        getattr(s, "in")[int(field[2:])] = value
    elif field.startswith("cst"):
        s.cst[int(field[3:])] = value
    elif field.startswith("i"):
        s.i[int(field[1:])] = value
    else:
        setattr(s, field, value)
    out, bad, text = ffi.new("cl_engine **"), ffi.new("int *"), ffi.new("char[]", 256)
    rc = lib.cl_engine_create(steps, ex.n_records, ffi.from_buffer("unsigned char[]", ex.blob), ex.blob.nbytes,
                              ex.arena.buffer.size, out, bad, text, 256)
    assert rc == lib.CL_EINVAL and bad[0] == 0 and out[0] == ffi.NULL
    assert why in ffi.string(text).decode()


def test_c_refuses_to_run_outside_its_steps():
    from convlab.kernels.c._ffi import ffi, lib
    from onnx import helper
    ex = _c_steps(make_model([helper.make_node("Relu", ["X"], ["Y"])], {"X": (1, 3)}, ["Y"]))
    for first, last, threads in ((0, ex.n_records + 1, 1), (1, 0, 1), (-1, 1, 1), (0, 1, 0)):
        assert lib.cl_engine_run(ex.engine, ex._arena_ptr, first, last, threads, ffi.NULL, 0, ffi.NULL) == lib.CL_EINVAL


# Pools: the C separable path (undilated windows) against onnxruntime over drawn geometries, and
# NaN propagation (which the vector max would drop) against the Python executor.
from hypothesis import given, settings, strategies as st  # noqa: E402


@st.composite
def pool_case(draw):
    op = draw(st.sampled_from(["MaxPool", "AveragePool"]))
    k = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    s = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    pads = [draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)),
            draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1))]
    hw = (draw(st.integers(max(k[0], 1), 13)), draw(st.integers(max(k[1], 1), 13)))
    attrs = dict(kernel_shape=k, strides=s, pads=pads, ceil_mode=draw(st.integers(0, 1)))
    if op == "AveragePool":
        attrs["count_include_pad"] = draw(st.integers(0, 1))
    return op, attrs, (1, draw(st.integers(1, 5)), *hw)


@settings(max_examples=60, deadline=None)
@given(pool_case())
def test_pool_matches_onnxruntime(case):
    from onnx import helper
    op, attrs, shape = case
    model = make_model([helper.make_node(op, ["X"], ["Y"], **attrs)], {"X": shape}, ["Y"])
    x = rand(*shape, seed=11)
    got = Model.load(model, passes="none").run({"X": x})["Y"]
    np.testing.assert_allclose(got, ort_run(model, {"X": x})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("threads", [1, 2])
def test_maxpool_propagates_nan_like_the_reference(threads):
    from onnx import helper
    model = make_model([helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=[3, 3], strides=[2, 2],
                                         pads=[1, 1, 1, 1])], {"X": (1, 2, 9, 11)}, ["Y"])
    x = rand(1, 2, 9, 11, seed=12)
    x[0, 0, 4, 5], x[0, 1, 0, 0], x[0, 1, 8, 10] = np.nan, np.nan, np.inf
    got = Model.load(model, passes="none", threads=threads).run({"X": x})["Y"]
    ref = Model.load(model, passes="none", engine="python").run({"X": x})["Y"]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert np.isnan(got).sum() == 3   # (4, 5) lies in 1 row x 2 column windows, (0, 0) in one
    np.testing.assert_array_equal(got[~np.isnan(got)], ref[~np.isnan(ref)])
