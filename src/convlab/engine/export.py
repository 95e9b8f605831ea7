"""Engine graph -> standard ONNX that onnxruntime runs.

A conv with a fused activation is written as Conv followed by the activation node, since ONNX
Conv cannot express an epilogue; everything else is written as it is in the graph.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph import Graph, Node


def _activation_nodes(graph: Graph, conv: Node, src: str, dst: str, consts: dict) -> list:
    a = conv.fused
    name = conv.name + "_" + a.kind
    if a.kind in ("relu", "sigmoid"):
        return [helper.make_node(a.kind.capitalize(), [src], [dst], name=name)]
    if a.kind == "leaky_relu":
        return [helper.make_node("LeakyRelu", [src], [dst], name=name, alpha=a.alpha)]
    if a.kind == "prelu":
        slope = graph.fresh_name(name + "_slope")
        consts[slope] = a.slopes_for(graph.consts[conv.input(1)].shape[0]).reshape(-1, 1, 1)
        return [helper.make_node("PRelu", [src, slope], [dst], name=name)]
    if a.kind == "relu6":
        if graph.opset < 11:
            return [helper.make_node("Clip", [src], [dst], name=name, min=0.0, max=6.0)]
        lo, hi = graph.fresh_name(name + "_min"), graph.fresh_name(name + "_max")
        consts[lo], consts[hi] = np.float32(0), np.float32(6)
        return [helper.make_node("Clip", [src, lo, hi], [dst], name=name)]
    if a.kind == "hardswish":
        if graph.opset >= 14:
            return [helper.make_node("HardSwish", [src], [dst], name=name)]
        gate = name + "_gate"
        return [helper.make_node("HardSigmoid", [src], [gate], name=gate, alpha=1 / 6, beta=0.5),
                helper.make_node("Mul", [src, gate], [dst], name=name)]
    raise AssertionError(a.kind)


def _value_info(graph: Graph, name: str):
    shape, dtype = graph.shapes[name] if name in graph.shapes else (graph.consts[name].shape, graph.consts[name].dtype)
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), list(shape))


def to_onnx(graph: Graph) -> onnx.ModelProto:
    consts = {}
    nodes = []
    for n in graph.nodes:
        attrs = {k: v for k, v in n.attrs.items()}
        if n.fused is None:
            nodes.append(helper.make_node(n.op, n.inputs, n.outputs, name=n.name, **attrs))
            continue
        pre = graph.fresh_name(n.outputs[0] + "_preact")
        nodes.append(helper.make_node(n.op, n.inputs, [pre], name=n.name, **attrs))
        nodes += _activation_nodes(graph, n, pre, n.outputs[0], consts)
    used = {i for n in nodes for i in n.input} | set(graph.outputs)
    consts.update({k: v for k, v in graph.consts.items() if k in used})
    # Graph outputs that folded to constants are written as Constant nodes (outputs cannot be initializers).
    for o in graph.outputs:
        if o in consts:
            nodes.append(helper.make_node("Constant", [], [o], value=numpy_helper.from_array(consts.pop(o), o)))
    g = helper.make_graph(nodes, graph.name,
                          [_value_info(graph, i) for i in graph.inputs],
                          [_value_info(graph, o) for o in graph.outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", graph.opset)],
                              producer_name="convlab")
    model.ir_version = max(graph.ir_version, 4)    # IR >= 4: initializers need not be inputs
    return model
