"""Fuse MatMul by a constant matrix and the Add of a constant row after it into one Gemm.

TensorFlow and Keras export a dense layer as MatMul + Add (MTCNN's R-Net and O-Net: every dense
layer), which costs a second pass over the output and, in the native engine, a step of its own
(about 0.5 us each there). As Gemm the bias is added in the GEMM's epilogue. Only a 2-D input
qualifies (Gemm is 2-D), with a float32 bias that broadcasts along the rows.
"""
from __future__ import annotations

import numpy as np

from ..graph import Node


def _bias(add, mm_out, graph, n_cols):
    """The Add's constant operand when it is a row bias for an n_cols-wide product, else None."""
    if len(add.inputs) != 2 or mm_out not in add.inputs:
        return None
    other = add.inputs[1] if add.inputs[0] == mm_out else add.inputs[0]
    c = graph.consts.get(other)
    if c is None or c.dtype != np.float32 or c.ndim > 2 or c.size not in (1, n_cols):
        return None
    return other if c.ndim < 2 or c.shape[0] == 1 else None


def run(graph):
    details = []
    if graph.opset < 7:    # Gemm broadcasts C only from opset 7
        return 0, details
    consumers = graph.consumers()
    replaced = {}
    for mm in graph.nodes:
        if mm.op != "MatMul" or mm.outputs[0] in graph.outputs:
            continue
        b = graph.consts.get(mm.inputs[1])
        a_shape = graph.shapes.get(mm.inputs[0], ((),))[0]
        if b is None or b.ndim != 2 or b.dtype != np.float32 or len(a_shape) != 2:
            continue
        readers = consumers.get(mm.outputs[0], [])
        if len(readers) != 1 or readers[0].op != "Add":
            continue
        add = readers[0]
        bias = _bias(add, mm.outputs[0], graph, b.shape[1])
        if bias is None:
            continue
        replaced[id(mm)] = Node(mm.name, "Gemm", [mm.inputs[0], mm.inputs[1], bias], list(add.outputs))
        replaced[id(add)] = None
        details.append(f"{mm.name} + {add.name} -> Gemm")
    graph.nodes = [new for new in (replaced.get(id(n), n) for n in graph.nodes) if new is not None]
    return len(details), details
