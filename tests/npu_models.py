"""Tiny seeded ONNX models for the NPU tests: built here, never downloaded.

They stand in for the zoo's face detector and template extractor (same layer kinds: strided convs,
depthwise conv, two detection heads; global pooling and a fully connected embedding) at a size the
RKNN simulator converts in seconds.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# The toolkit's onnx (<=1.18) reads IR version 10 at most; models built for it say so.
IR_VERSION = 8


class _Graph:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def _param(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv(self, x: str, name: str, c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1,
             relu: bool = True) -> str:
        fan_in = c_in // groups * k * k
        w = self.rng.normal(0, np.sqrt(2.0 / fan_in), (c_out, c_in // groups, k, k))
        b = self.rng.normal(0, 0.1, c_out)
        out = f"{name}_out"
        self.nodes.append(helper.make_node(
            "Conv", [x, self._param(f"{name}_w", w), self._param(f"{name}_b", b)], [out], name=name,
            kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, group=groups))
        if not relu:
            return out
        self.nodes.append(helper.make_node("Relu", [out], [f"{name}_relu"], name=f"{name}_relu"))
        return f"{name}_relu"

    def gemm(self, x: str, name: str, n_in: int, n_out: int) -> str:
        w = self.rng.normal(0, np.sqrt(1.0 / n_in), (n_out, n_in))
        self.nodes.append(helper.make_node(
            "Gemm", [x, self._param(f"{name}_w", w), self._param(f"{name}_b", np.zeros(n_out))],
            [f"{name}_out"], name=name, transB=1))
        return f"{name}_out"

    def model(self, name: str, inputs, outputs, opset: int) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="convlab-tests")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model


def _value(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def tiny_detector(size: int = 64, opset: int = 13, seed: int = 0) -> onnx.ModelProto:
    """Backbone of strided convs, a depthwise stage, and score / box heads like a face detector."""
    g = _Graph(seed)
    x = g.conv("input", "stem", 3, 8, 3, stride=2)
    x = g.conv(x, "dw", 8, 8, 3, groups=8)
    x = g.conv(x, "pw", 8, 16, 1)
    x = g.conv(x, "down", 16, 16, 3, stride=2)
    scores = g.conv(x, "score_head", 16, 2, 1, relu=False)
    g.nodes.append(helper.make_node("Sigmoid", [scores], ["scores"], name="score_sigmoid"))
    boxes = g.conv(x, "box_head", 16, 4, 1, relu=False)
    g.nodes.append(helper.make_node("Identity", [boxes], ["boxes"], name="box_out"))
    s = size // 4
    return g.model("tiny_detector", [_value("input", (1, 3, size, size))],
                   [_value("scores", (1, 2, s, s)), _value("boxes", (1, 4, s, s))], opset)


def tiny_extractor(size: int = 32, dim: int = 32, opset: int = 13, seed: int = 1) -> onnx.ModelProto:
    """Conv stack, global average pooling and a fully connected embedding like a template extractor."""
    g = _Graph(seed)
    x = g.conv("input", "stem", 3, 16, 3, stride=2)
    x = g.conv(x, "dw", 16, 16, 3, groups=16)
    x = g.conv(x, "pw", 16, 32, 1)
    x = g.conv(x, "down", 32, 32, 3, stride=2)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="gap"))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten", axis=1))
    emb = g.gemm("flat", "fc", 32, dim)
    g.nodes.append(helper.make_node("Identity", [emb], ["embedding"], name="emb_out"))
    return g.model("tiny_extractor", [_value("input", (1, 3, size, size))],
                   [_value("embedding", (1, dim))], opset)


def with_unsupported_op(opset: int = 13) -> onnx.ModelProto:
    """A conv followed by an op from a custom domain: neither the toolkit nor any runtime knows it."""
    g = _Graph(2)
    x = g.conv("input", "stem", 3, 4, 3)
    g.nodes.append(helper.make_node("FancyNorm", [x], ["output"], name="fancy", domain="com.example"))
    graph = helper.make_graph(g.nodes, "unsupported", [_value("input", (1, 3, 16, 16))],
                              [_value("output", (1, 4, 16, 16))], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid("com.example", 1)])
    model.ir_version = IR_VERSION
    return model


def with_nonzero(opset: int = 13) -> onnx.ModelProto:
    """A valid ONNX model the toolkit refuses: NonZero of an activation makes the graph dynamic."""
    g = _Graph(3)
    x = g.conv("input", "stem", 3, 4, 3)
    g.nodes.append(helper.make_node("NonZero", [x], ["output"], name="nonzero"))
    graph = helper.make_graph(g.nodes, "nonzero", [_value("input", (1, 3, 16, 16))],
                              [helper.make_tensor_value_info("output", TensorProto.INT64, [4, "nonzero"])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model
