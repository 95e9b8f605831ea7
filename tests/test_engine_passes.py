"""Each graph pass alone, and all together, keeps the model's outputs (vs onnxruntime), reports
what it changed, and `optimize`'s written ONNX runs in onnxruntime with the same outputs."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from convlab.engine import Model, PASS_ORDER
from convlab.engine.passes import parse_passes
from convlab.engine.errors import ModelInputError

from engine_util import assert_matches_ort, make_model, ort_run, rand

C = 4


def patterns(opset: int):
    """One branch per pattern a pass rewrites, plus look-alikes it must leave alone, summed at the end."""
    f32 = lambda *v: np.array(v, np.float32)  # noqa: E731
    inits, nodes, ends = {}, [], []

    def conv(name, src, bias=True, pads=(1, 1, 1, 1)):
        inits[name + "_w"] = rand(C, C, 3, 3, seed=len(inits))
        ins = [src, name + "_w"]
        if bias:
            inits[name + "_b"] = rand(C, seed=len(inits) + 50)
            ins.append(name + "_b")
        nodes.append(helper.make_node("Conv", ins, [name], name=name, pads=list(pads)))
        return name

    def op(kind, ins, out, **attrs):
        nodes.append(helper.make_node(kind, ins, [out], name=out, **attrs))
        return out

    bn = {"bn_s": rand(C, seed=90) * 0 + f32(1.5, .5, 2, 1), "bn_b": rand(C, seed=91), "bn_m": rand(C, seed=92),
          "bn_v": f32(.5, 1, 2, 4)}
    inits.update(bn)
    # fold_bn + fuse_activation (Relu)
    ends.append(op("Relu", [op("BatchNormalization", [conv("c1", "x"), *bn], "bn1", epsilon=1e-3)], "relu1"))
    # fold_bn on Mul/Add by per-channel constants, then Clip(0, 6) -> relu6
    inits.update(mul_k=rand(C, 1, 1, seed=93), add_k=rand(1, C, 1, 1, seed=94))
    clip_in = ["lo", "hi"] if opset >= 11 else []
    if opset >= 11:
        inits.update(lo=np.float32(0), hi=np.float32(6))
    m = op("Mul", ["mul_k", conv("c2", "x", bias=False)], "mul2")
    ends.append(op("Clip", [op("Add", [m, "add_k"], "add2"), *clip_in], "clip2", **({} if opset >= 11 else dict(min=0.0, max=6.0))))
    ends.append(op("LeakyRelu", [conv("c3", "x")], "leaky3", alpha=0.25))
    inits["slope"] = rand(C, 1, 1, seed=95) * 0.1
    ends.append(op("PRelu", [conv("c4", "x"), "slope"], "prelu4"))
    ends.append(op("Sigmoid", [conv("c5", "x")], "sig5"))
    if opset >= 14:
        ends.append(op("HardSwish", [conv("c6", "x")], "hswish6"))
    c7 = conv("c7", "x")          # x * HardSigmoid(x): HardSwish as older exporters write it
    ends.append(op("Mul", [c7, op("HardSigmoid", [c7], "hsig7", alpha=1 / 6, beta=0.5)], "hswish7"))
    # Look-alikes: a conv read twice (no fusion), a Mul by a non-per-channel constant (no folding),
    # an Identity, and a dead branch.
    # fold_pad: a zero Pad (as TensorFlow's SAME at stride 2 exports it) folds into the conv; a
    # reflect Pad does not.
    def pad(name, mode):
        if opset < 11:
            return op("Pad", ["x"], name, mode=mode, pads=[0, 0, 0, 1, 0, 0, 2, 1])
        inits[name + "_p"] = np.array([0, 0, 0, 1, 0, 0, 2, 1], np.int64)
        return op("Pad", ["x", name + "_p"], name, mode=mode)
    ends.append(conv("c10", pad("pad10", "constant"), pads=(0, 0, 0, 0)))
    ends.append(conv("c11", pad("pad11", "reflect"), pads=(0, 0, 0, 0)))
    c8 = conv("c8", "x")
    ends.append(op("Add", [op("Relu", [c8], "relu8"), c8], "twice8"))
    inits["not_per_channel"] = rand(1, 1, 8, 8, seed=96)
    ends.append(op("Mul", [conv("c9", "x"), "not_per_channel"], "mul9"))
    ends.append(op("Identity", [op("Relu", ["x"], "relu_x")], "ident"))
    op("Tanh", [conv("dead", "x")], "dead_end")
    # fuse_matmul_add: a dense layer as TensorFlow writes it (MatMul + Add of a constant row) becomes a
    # Gemm; a MatMul whose product is also read elsewhere, or added to a non-constant, does not.
    n = C * 8 * 8
    inits.update(dense_w=rand(n, n, seed=98) * 0.05, dense_b=rand(1, n, seed=99), shape=np.array([1, C, 8, 8], np.int64))
    flat = op("Flatten", ["x"], "flat")
    dense = op("Add", ["dense_b", op("MatMul", [flat, "dense_w"], "mm1")], "dense1")
    mm2 = op("MatMul", [flat, "dense_w"], "mm2")
    twice = op("Add", [mm2, mm2], "twice_mm2")
    for k, v in enumerate((dense, twice)):
        ends.append(op("Reshape", [v, "shape"], f"dense_img{k}"))
    # Subnormal weights in one layer: flush_subnormals' count.
    w = rand(C, C, 3, 3, seed=97)
    w.reshape(-1)[:5] = np.float32(1e-39)
    inits["c1_w"] = w
    total = ends[0]
    for k, e in enumerate(ends[1:]):
        total = op("Add", [total, e], f"sum{k}")
    return make_model(nodes, {"x": (1, C, 8, 8)}, [total], inits, opset=opset)


def expected_changes(name: str, passes, opset: int) -> int:
    if name == "fuse_activation":   # c1 and c2 only once fold_bn has removed the BN / Mul / Add between
        return 5 + 2 * ("fold_bn" in passes) - (opset < 14)
    # dead_nodes: the Identity, the dead Conv and its Tanh, the dead conv's two constants.
    return {"fold_bn": 3, "flush_subnormals": 5, "dead_nodes": 5, "fold_constants": 0, "fold_pad": 1,
            "fuse_matmul_add": 1}[name]


@pytest.mark.parametrize("opset", [9, 11, 17])
@pytest.mark.parametrize("passes", [[p] for p in PASS_ORDER] + [PASS_ORDER])
def test_pass_preserves_outputs_and_reports(passes, opset):
    model = patterns(opset)
    m = assert_matches_ort(model, {"x": rand(1, C, 8, 8, seed=5)}, passes=passes)
    report = {r["pass"]: r for r in m.pass_report}
    assert list(report) == passes
    for name in passes:
        expected = expected_changes(name, passes, opset)
        assert report[name]["changed"] == expected, report[name]
        assert len(report[name]["details"]) >= min(expected, 1)


def test_passes_rewrite_what_they_say():
    m = Model.load(patterns(17), passes="all")
    ops = [n.op for n in m.graph.nodes]
    assert "BatchNormalization" not in ops and "Identity" not in ops and "Clip" not in ops
    fused = {n.name: repr(n.fused) for n in m.graph.nodes if n.fused is not None}
    assert fused == {"c1": "relu", "c2": "relu6", "c3": "leaky_relu(0.25)", "c4": "prelu", "c5": "sigmoid",
                     "c6": "hardswish", "c7": "hardswish"}
    assert "dead" not in {n.name for n in m.graph.nodes}
    assert [n.name for n in m.graph.nodes if n.op == "Pad"] == ["pad11"]
    assert [(n.name, n.op) for n in m.graph.nodes if n.name.startswith("mm")] == [("mm1", "Gemm"), ("mm2", "MatMul")]
    assert next(n for n in m.graph.nodes if n.name == "c10").attrs["pads"] == [0, 1, 2, 1]
    assert {layer["layer"]: layer["conv"].split("+")[-1] for layer in m.layers()}["c2"] == "relu6"
    flush = next(r for r in m.pass_report if r["pass"] == "flush_subnormals")
    assert flush["details"] == ["c1 c1_W: 5 of 144"]   # c1_W: the BN-folded weights


@pytest.mark.parametrize("opset", [9, 11, 13, 17])
def test_optimize_round_trip_through_onnxruntime(opset, tmp_path):
    model = patterns(opset)
    x = {"x": rand(1, C, 8, 8, seed=6)}
    m = Model.load(model, passes="all")
    path = tmp_path / "opt.onnx"
    m.save(path)
    written = onnx.load(path)
    onnx.checker.check_model(written)
    assert written.opset_import[0].version == opset
    ops = [n.op_type for n in written.graph.node]
    assert "BatchNormalization" not in ops and ops.count("Conv") == 10 + (opset >= 14) and ops.count("Pad") == 1
    # Fused activations are back as separate nodes that onnxruntime runs.
    assert ops.count("PRelu") == 1 and ops.count("LeakyRelu") == 1 and ops.count("Sigmoid") == 1
    expected = ort_run(model, x)[0]
    np.testing.assert_allclose(ort_run(written, x)[0], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # And the written model loads back into convlab with the same outputs.
    again = Model.load(path)
    np.testing.assert_allclose(again.run(x)[again.outputs[0]], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_pass_names_are_checked():
    assert parse_passes("none") == [] and parse_passes(None) == PASS_ORDER
    assert parse_passes("fuse_activation,fold_bn") == ["fold_bn", "fuse_activation"]
    with pytest.raises(ModelInputError, match="unknown pass"):
        parse_passes("fold_everything")
