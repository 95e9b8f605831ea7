"""Fuse an activation into the preceding Conv's epilogue (Relu, Clip(0,6) -> relu6, LeakyRelu,
PRelu, Sigmoid, HardSwish, and x * HardSigmoid(x) as older PyTorch exports spell HardSwish).

The activation is applied while the conv output is still in registers, saving one pass over
memory. ONNX Conv has no activation attribute, so export.py writes the activation back as its
own node.
"""
from __future__ import annotations

import numpy as np

from ...activation import Activation
from ..ops.elementwise import clip_bounds


def _single_reader(graph, value, consumers):
    readers = consumers.get(value, [])
    return readers[0] if len(readers) == 1 and value not in graph.outputs else None


def _activation(node, graph, channels) -> Activation | None:
    op = node.op
    if op in ("Relu", "Sigmoid", "HardSwish"):
        return Activation(op.lower())
    if op == "LeakyRelu":
        return Activation("leaky_relu", alpha=float(node.attr("alpha", 0.01)))
    if op == "PRelu":
        s = graph.consts.get(node.input(1))
        if s is None or s.dtype != np.float32 or s.size not in (1, channels):
            return None
        # The slope must broadcast per channel against NCHW: (C,1,1), (1,C,1,1), (1,) ...
        shape = (1,) * (4 - s.ndim) + s.shape if s.ndim <= 4 else None
        if shape is None or shape[0] != 1 or any(d != 1 for d in shape[2:]):
            return None
        return Activation("prelu", slopes=s.reshape(-1).copy())
    if op == "Clip":
        if any(i and i not in graph.consts for i in node.inputs[1:]):
            return None
        lo, hi = clip_bounds(node, [graph.consts.get(i) if i else None for i in node.inputs], graph.opset)
        if lo == 0 and hi == 6:
            return Activation("relu6")
        if lo == 0 and hi >= np.finfo(np.float32).max:
            return Activation("relu")
    return None


def _hard_swish_mul(node, graph, conv_out, consumers):
    """conv_out -> HardSigmoid(1/6, 1/2) -> Mul(conv_out, .): the Mul node, else None."""
    if node.op != "HardSigmoid" or not np.isclose(node.attr("alpha", 0.2), 1 / 6) or node.attr("beta", 0.5) != 0.5:
        return None
    mul = _single_reader(graph, node.outputs[0], consumers)
    if mul is None or mul.op != "Mul" or sorted(mul.inputs) != sorted([conv_out, node.outputs[0]]):
        return None
    return mul


def _match(conv, graph, consumers):
    """(activation, the nodes computing it) when conv's output feeds only a fusable activation."""
    out = conv.outputs[0]
    readers = consumers.get(out, [])
    if out in graph.outputs:
        return None
    if len(readers) == 1:
        act = _activation(readers[0], graph, graph.consts[conv.input(1)].shape[0])
        return (act, readers) if act is not None else None
    hs = [r for r in readers if r.op == "HardSigmoid"]
    if len(readers) == 2 and len(hs) == 1:
        mul = _hard_swish_mul(hs[0], graph, out, consumers)
        if mul is not None and mul in readers:
            return Activation("hardswish"), [hs[0], mul]
    return None


def run(graph):
    details = []
    consumers = graph.consumers()
    removed = set()
    for conv in graph.nodes:
        if conv.op != "Conv" or conv.fused is not None:
            continue
        match = _match(conv, graph, consumers)
        if match is None:
            continue
        act, nodes = match
        conv.fused = act
        conv.outputs = list(nodes[-1].outputs[:1])
        removed.update(id(n) for n in nodes)
        details.append(f"{conv.name} + {'/'.join(n.op for n in nodes)} -> {act!r}")
    dropped = [i for n in graph.nodes if id(n) in removed for i in n.inputs if i in graph.consts]
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    graph.drop_unused_consts(dropped)
    return len(details), details
