"""Fold a zero Pad into the Conv that reads it: the conv's own padding does the same for free.

TensorFlow exports (SAME padding at stride 2) and PyTorch's ZeroPad2d write an explicit Pad
before the Conv, which costs a full copy of the tensor. Only constant-mode, zero-valued,
non-negative padding of H and W is folded, into a Conv without auto_pad.
"""
from __future__ import annotations

from ..ops.tensor import pad_widths


def _foldable_widths(pad, graph):
    """((top, left), (bottom, right)) if this Pad can move into a conv, else None."""
    if pad.attr("mode", "constant") != "constant" or pad.inputs[0] not in graph.shapes:
        return None
    if any(i and i not in graph.consts for i in pad.inputs[1:]):
        return None
    rank = len(graph.shapes[pad.inputs[0]][0])
    if rank != 4:
        return None
    width, value = pad_widths(pad, [graph.consts.get(i) if i else None for i in pad.inputs], graph.opset, rank)
    if value != 0 or width[0] != (0, 0) or width[1] != (0, 0) or min(min(w) for w in width) < 0:
        return None
    return width[2], width[3]


def run(graph):
    details = []
    consumers = graph.consumers()
    removed = set()
    for pad in graph.nodes:
        if pad.op != "Pad" or pad.outputs[0] in graph.outputs:
            continue
        readers = consumers.get(pad.outputs[0], [])
        if len(readers) != 1 or readers[0].op != "Conv" or readers[0].inputs[0] != pad.outputs[0]:
            continue
        conv = readers[0]
        widths = _foldable_widths(pad, graph)
        if widths is None or conv.attr("auto_pad", "NOTSET") != "NOTSET":
            continue
        (top, bottom), (left, right) = widths
        t, l, b, r = conv.attr("pads") or [0, 0, 0, 0]
        conv.attrs["pads"] = [t + top, l + left, b + bottom, r + right]
        conv.inputs[0] = pad.inputs[0]
        removed.add(id(pad))
        details.append(f"{pad.name} -> {conv.name} pads {conv.attrs['pads']}")
    dropped = [i for n in graph.nodes if id(n) in removed for i in n.inputs[1:] if i in graph.consts]
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
    graph.drop_unused_consts(dropped)
    return len(details), details
