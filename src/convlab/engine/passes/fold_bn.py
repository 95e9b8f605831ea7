"""Fold BatchNormalization, and Mul/Add by a per-channel constant, into the preceding Conv.

BN in inference is y = x * k + c per channel (k = scale / sqrt(var + eps), c = B - mean * k), so
Conv -> BN is one Conv with W' = W * k (per output channel) and b' = b * k + c. Folding is done
in float64 and rounded once, which is why the result can differ from the unfused graph by an
ulp or so.
"""
from __future__ import annotations

import numpy as np

from ..ops.linalg import batchnorm_affine


def _conv_feeding(graph, value, consumers, producers):
    """The Conv producing `value` if this node is its only reader and nothing was fused into it yet."""
    conv = producers.get(value)
    if conv is None or conv.op != "Conv" or conv.fused is not None:
        return None
    if len(consumers.get(value, [])) != 1 or value in graph.outputs:
        return None
    return conv


def _per_channel(c: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
    """c as a (channels,) vector if broadcasting it against an NCHW conv output is per-channel."""
    if c.ndim > rank or c.dtype != np.float32:
        return None
    shape = (1,) * (rank - c.ndim) + c.shape
    if shape[0] != 1 or any(d != 1 for d in shape[2:]) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(c.reshape(-1), (channels,)).astype(np.float64)


def _affine(node, graph, channels):
    """(k, c) when `node` computes conv_out * k + c per channel with constant parameters, else None."""
    if node.op == "BatchNormalization":
        params = [graph.consts.get(i) for i in node.inputs[1:5]]
        if any(p is None for p in params):
            return None
        k, c = batchnorm_affine(*params, node.attr("epsilon", 1e-5))
        return k.astype(np.float64), c.astype(np.float64)
    if node.op in ("Mul", "Add"):
        other = [i for i in node.inputs if i in graph.consts]
        if len(other) != 1 or len(node.inputs) != 2:
            return None
        v = _per_channel(graph.consts[other[0]], channels, 4)
        if v is None:
            return None
        return (v, np.zeros(channels)) if node.op == "Mul" else (np.ones(channels), v)
    return None


def run(graph):
    details = []
    changed = True
    while changed:      # Conv -> BN -> Mul -> Add chains fold one link per round
        changed = False
        producers, consumers = graph.producers(), graph.consumers()
        for node in graph.nodes:
            if node.op not in ("BatchNormalization", "Mul", "Add"):
                continue
            data = [i for i in node.inputs[:1 if node.op == "BatchNormalization" else 2] if i not in graph.consts]
            if len(data) != 1:
                continue
            conv = _conv_feeding(graph, data[0], consumers, producers)
            if conv is None or conv.input(1) not in graph.consts:
                continue
            w = graph.consts[conv.input(1)]
            kc = _affine(node, graph, w.shape[0])
            if kc is None:
                continue
            k, c = kc
            b = graph.consts[conv.input(2)].astype(np.float64) if conv.input(2) else np.zeros(w.shape[0])
            w_name, b_name = graph.fresh_name(conv.name + "_W"), graph.fresh_name(conv.name + "_B")
            graph.consts[w_name] = (w.astype(np.float64) * k.reshape(-1, 1, 1, 1)).astype(np.float32)
            graph.consts[b_name] = (b * k + c).astype(np.float32)
            old = conv.inputs[1:] + [i for i in node.inputs if i in graph.consts]
            conv.inputs = [conv.inputs[0], w_name, b_name]
            conv.outputs = list(node.outputs[:1])
            graph.nodes.remove(node)
            graph.drop_unused_consts(old)
            details.append(f"{node.op} {node.name} -> {conv.name}")
            changed = True
            break
    return len(details), details
