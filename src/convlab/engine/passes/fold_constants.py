"""Constant folding: every node computable at load for the fixed input shape becomes a constant.

This is what removes the Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains exporters emit.
"""
from __future__ import annotations

from collections import Counter

from .. import shapes


def run(graph):
    known = shapes.infer(graph)
    folded = [n for n in graph.nodes if all(o in known or not o for o in n.outputs)]
    for n in folded:
        for o in n.outputs:
            if o:
                graph.consts[o] = known[o]
    ids = {id(n) for n in folded}
    graph.nodes = [n for n in graph.nodes if id(n) not in ids]
    by_op = Counter(n.op for n in folded)
    return len(folded), [f"{op} x{k}" for op, k in sorted(by_op.items())]
