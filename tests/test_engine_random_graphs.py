"""Random small CNN graphs (conv/BN/activation/pad/pool/residual/concat, branching) through several
pass settings and the arena, against onnxruntime: the combinations nobody writes by hand."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import helper

from engine_util import assert_matches_ort, make_model

ACTS = ["Relu", "Clip", "LeakyRelu", "PRelu", "Sigmoid", "HardSwish", None]


@st.composite
def graphs(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    x_shape = (draw(st.integers(1, 6)), draw(st.integers(5, 12)), draw(st.integers(5, 12)))
    nodes, inits = [], {}
    values = [("x", *x_shape)]          # (name, channels, height, width) later layers may read

    def add(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    for k in range(draw(st.integers(1, 6))):
        src, c, h, w = values[-1] if draw(st.booleans()) else draw(st.sampled_from(values))
        kind = draw(st.sampled_from(["conv", "conv", "conv", "pad_conv", "pool", "residual", "concat"]))
        if kind in ("conv", "pad_conv"):
            groups = c if draw(st.booleans()) else 1
            c_out = c if groups > 1 else draw(st.integers(1, 8))
            kh, stride = draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 2]))
            pads = [draw(st.integers(0, kh // 2 + 1)) for _ in range(4)]
            oh, ow = (h + pads[0] + pads[2] - kh) // stride + 1, (w + pads[1] + pads[3] - kh) // stride + 1
            if min(oh, ow) < 1:
                continue
            if kind == "pad_conv":
                inits[f"p{k}"] = np.array([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]], np.int64)
                src, pads = add("Pad", [src, f"p{k}"], f"padded{k}"), [0, 0, 0, 0]
            inits[f"w{k}"], inits[f"b{k}"] = f32(c_out, c // groups, kh, kh), f32(c_out)
            out = add("Conv", [src, f"w{k}", f"b{k}"], f"c{k}", strides=[stride] * 2, pads=pads, group=groups)
            if draw(st.booleans()):
                params = (f32(c_out), f32(c_out), f32(c_out), np.abs(f32(c_out)) + 0.5)
                inits.update({f"bn{k}_{p}": v for p, v in zip("sbmv", params)})
                out = add("BatchNormalization", [out] + [f"bn{k}_{p}" for p in "sbmv"], f"n{k}")
            act = draw(st.sampled_from(ACTS))
            if act == "Clip":
                inits[f"lo{k}"], inits[f"hi{k}"] = np.float32(0), np.float32(6)
                out = add("Clip", [out, f"lo{k}", f"hi{k}"], f"a{k}")
            elif act == "PRelu":
                inits[f"s{k}"] = f32(c_out, 1, 1)
                out = add("PRelu", [out, f"s{k}"], f"a{k}")
            elif act is not None:
                out = add(act, [out], f"a{k}")
            c, h, w = c_out, oh, ow
        elif kind == "pool":
            if min(h, w) < 2:
                continue
            ceil = draw(st.booleans())
            out = add(draw(st.sampled_from(["MaxPool", "AveragePool"])), [src], f"pool{k}", kernel_shape=[2, 2],
                      strides=[2, 2], ceil_mode=int(ceil))
            h, w = [(-(-(d - 2) // 2) if ceil else (d - 2) // 2) + 1 for d in (h, w)]
        elif kind == "residual":
            out = add("Add", [src, values[-1][0]] if values[-1][1:] == (c, h, w) else [src, src], f"add{k}")
        else:
            out = add("Concat", [src, src], f"cat{k}", axis=1)
            c *= 2
        values.append((out, c, h, w))
    # Every value nobody else reads is an output, so side branches are checked (and stay alive).
    read = {i for n in nodes for i in n.input}
    outputs = [v[0] for v in values[1:] if v[0] not in read] or ["x"]
    return make_model(nodes, {"x": (1,) + x_shape}, outputs, inits, opset=17), x_shape


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.sampled_from(["none", "all", "fold_pad,fold_bn", "fuse_activation"]))
def test_random_graph_matches_onnxruntime(graph, passes):
    model, shape = graph
    x = np.random.default_rng(0).standard_normal((1,) + shape).astype(np.float32)
    assert_matches_ort(model, {"x": x}, passes=passes, rtol=1e-4, atol=1e-4)
