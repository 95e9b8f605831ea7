"""The activation arena: placement never overlaps two tensors alive at once, reuse changes no
output, and the peak is below the no-reuse total on a real network."""
from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from convlab.engine import Model
from convlab.engine.arena import ALIGN, Lifetime, place

from engine_util import rand
from test_engine_load import small_cnn
from test_engine_passes import patterns


@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 20), st.integers(0, 6)), min_size=1, max_size=30))
def test_placement_never_overlaps_live_tensors(specs):
    lifetimes = {f"t{k}": Lifetime(size, first, first + span) for k, (size, first, span) in enumerate(specs)}
    offsets, peak = place(lifetimes)
    for a, ta in lifetimes.items():
        assert offsets[a] % ALIGN == 0 and offsets[a] + ta.size <= peak
        for b, tb in lifetimes.items():
            if a < b and ta.first <= tb.last and tb.first <= ta.last:
                assert offsets[a] + ta.size <= offsets[b] or offsets[b] + tb.size <= offsets[a], (a, b)
    assert peak <= sum(-(-t.size // ALIGN) * ALIGN for t in lifetimes.values())


def test_chain_reuses_two_buffers():
    # A chain of equal tensors, each read only by the next step: two slots suffice.
    lifetimes = {f"t{k}": Lifetime(1024, k, k + 1) for k in range(10)}
    assert place(lifetimes)[1] == 2 * 1024


def test_reuse_changes_no_output_and_saves_memory():
    for model, shape in ((patterns(17), (1, 4, 8, 8)), (small_cnn(), (1, 3, 16, 16))):
        x = {model.graph.input[0].name: rand(*shape, seed=3)}
        for passes in ("none", "all"):
            shared = Model.load(model, passes=passes, reuse=True)
            separate = Model.load(model, passes=passes, reuse=False)
            a, b = shared.run(x), separate.run(x)
            for name in a:
                np.testing.assert_array_equal(a[name], b[name])
            assert shared.memory["peak_bytes"] < shared.memory["no_reuse_bytes"]
            assert separate.memory["peak_bytes"] == separate.memory["no_reuse_bytes"]
            # Running twice gives the same answer: nothing leaks between runs through the arena.
            for name, v in shared.run(x).items():
                np.testing.assert_array_equal(v, a[name])


def test_outputs_are_not_views_of_the_arena():
    m = Model.load(small_cnn())
    first = m.run({"x": rand(1, 3, 16, 16, seed=1)})["y"].copy()
    kept = m.run({"x": rand(1, 3, 16, 16, seed=1)})["y"]
    m.run({"x": rand(1, 3, 16, 16, seed=2)})
    np.testing.assert_array_equal(kept, first)


def test_non_conv_ops_reuse_their_dying_inputs_in_place():
    from onnx import helper
    from engine_util import make_model
    ops = ["Relu", "Sigmoid", "Tanh", "HardSwish"]
    nodes = [helper.make_node(op, [f"v{k}" if k else "x"], [f"v{k + 1}"]) for k, op in enumerate(ops)]
    model = make_model(nodes, {"x": (1, 4, 8, 8)}, [f"v{len(ops)}"], opset=14)
    m = Model.load(model, passes="none")
    assert m.memory["peak_bytes"] == 4 * 4 * 8 * 8
    x = rand(1, 4, 8, 8, seed=5)
    np.testing.assert_array_equal(m.run({"x": x})["v4"], Model.load(model, passes="none", reuse=False).run({"x": x})["v4"])
