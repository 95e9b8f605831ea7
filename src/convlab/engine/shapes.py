"""Shape inference for a fixed input shape, by running the graph's cheap ops on placeholders.

Each non-conv op runs on zeros of its inputs' shapes (Conv and ConvTranspose shapes come from
their geometry), so the inferred shapes are exactly what the executor will produce — the same
NumPy code decides both. Values that depend only on constants and input *shapes* (Shape ->
Gather -> Concat -> Reshape chains) come out with their actual value: ``known``, which the
fold_constants pass turns into constants.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConvlabError
from ..spec import ConvSpec, resolve_auto_pad
from .errors import ModelInputError, ModelLoadError
from .graph import Graph, Node
from .ops import OPS
from .ops.conv_transpose import check_conv_transpose, conv_transpose_geometry


def conv_spec(node: Node, x_shape, w: np.ndarray, activation=None) -> ConvSpec:
    """The ConvSpec of an ONNX Conv node for input shape x_shape (NCHW)."""
    kernel = tuple(node.attr("kernel_shape") or w.shape[2:])
    if kernel != tuple(w.shape[2:]):
        raise ModelLoadError(f"node {node.name!r} (Conv): kernel_shape {list(kernel)} disagrees with the weights' "
                             f"{list(w.shape[2:])}")
    if node.attr("auto_pad", "NOTSET") != "NOTSET" and node.attr("pads") is not None:
        raise ModelLoadError(f"node {node.name!r} (Conv): pads and auto_pad={node.attr('auto_pad')} cannot be "
                             "used together")
    if node.attr("group", 1) < 1:
        raise ModelLoadError(f"node {node.name!r} (Conv): group {node.attr('group', 1)} must be >= 1")
    strides = tuple(node.attr("strides") or (1, 1))
    dil = tuple(node.attr("dilations") or (1, 1))
    pads = resolve_auto_pad(node.attr("auto_pad", "NOTSET"), node.attr("pads"), x_shape[2:], kernel, strides, dil)
    groups = node.attr("group", 1)
    return ConvSpec.build(w.shape[1] * groups, w.shape[0], w.shape[2], w.shape[3], stride=strides, padding=pads,
                          dilation=dil, groups=groups, activation=activation,
                          has_bias=bool(node.input(2)))


def _conv_shape(node: Node, shapes, consts):
    x = shapes[0]
    if x is None:
        raise ModelLoadError(f"node {node.name!r} (Conv): its input {node.input(0)!r} is a constant; convlab runs "
                             "convs on computed tensors only (fold it with onnxruntime or onnx-simplifier)")
    w = consts.get(node.input(1))
    if w is None:
        raise ModelLoadError(f"Conv {node.name!r}: weights {node.input(1)!r} are not constant; only constant weights "
                             "are supported")
    if len(x) != 4 or w.ndim != 4:
        raise ModelLoadError(f"Conv {node.name!r}: only 2-D convolution is supported (input {x}, weights {w.shape})")
    spec = conv_spec(node, x, w)
    if node.input(2) and node.input(2) not in consts:
        raise ModelLoadError(f"node {node.name!r} (Conv): bias {node.input(2)!r} is not constant; only constant "
                             "biases are supported")
    b = consts.get(node.input(2)) if node.input(2) else None
    if b is not None and b.shape != (spec.c_out,):
        raise ModelLoadError(f"node {node.name!r} (Conv): bias has shape {b.shape}, the {spec.c_out} output "
                             f"channels need ({spec.c_out},)")
    if x[1] != spec.c_in:
        raise ModelLoadError(f"Conv {node.name!r}: input has {x[1]} channels, weights expect {spec.c_in}")
    return (x[0], spec.c_out) + spec.output_hw(x[2], x[3])


def _conv_transpose_shape(node: Node, shapes, consts):
    if node.input(1) not in consts:
        raise ModelLoadError(f"ConvTranspose {node.name!r}: weights {node.input(1)!r} are not constant; only "
                             "constant weights are supported")
    x, w = shapes[0], consts[node.input(1)].shape
    if x is None:
        raise ModelLoadError(f"node {node.name!r} (ConvTranspose): its input {node.input(0)!r} is a constant; "
                             "convlab runs it on computed tensors only")
    check_conv_transpose(node, x, w)
    *_, sizes = conv_transpose_geometry(node, x[2:], w)
    return (x[0], w[1] * node.attr("group", 1)) + tuple(sizes)


def _nbytes(shape, dtype) -> int:
    n = np.dtype(dtype).itemsize
    for d in shape:
        n *= int(d)
    return n


class _Activations:
    """The activations a run holds at once (values from their producer to their last reader, no
    reuse assumed across views), tracked node by node so a model too big for this machine is
    refused at load with the figure (issue 16: a 30000x30000 input was OOM-killed instead)."""

    def __init__(self, graph: Graph, shapes):
        self.last = {}
        for i, n in enumerate(graph.nodes):
            for x in n.inputs:
                if x:
                    self.last[x] = i
        for o in graph.outputs:
            self.last[o] = len(graph.nodes)
        self.live = {k: _nbytes(*v) for k, v in shapes.items()}
        self.weights = sum(a.nbytes for a in graph.consts.values())
        self.inputs = {k: v[0] for k, v in shapes.items()}
        self.check(0, "the inputs")

    def check(self, extra: int, where: str) -> None:
        from ..memory import ensure_fits
        shown = ", ".join(f"{k} {'x'.join(map(str, s))}" for k, s in self.inputs.items())
        ensure_fits(sum(self.live.values()) + extra, f"the model at input shape {shown} ({where})",
                    error=ModelInputError, what="activations")

    def before(self, node: Node, in_shapes) -> None:
        # a non-conv op's output is about the size of its largest input (they are run on placeholders)
        extra = max((_nbytes(*s) for s in in_shapes), default=0)
        self.check(extra, f"at node {node.name!r}")

    def after(self, i: int, node: Node, shapes) -> None:
        for o in node.outputs:
            if o and o in shapes:
                self.live[o] = _nbytes(*shapes[o])
        self.check(0, f"at node {node.name!r}")
        for x in set(node.inputs) | set(node.outputs):
            if x in self.live and self.last.get(x, -1) <= i:
                del self.live[x]


def infer(graph: Graph) -> dict[str, np.ndarray]:
    """Fill graph.shapes for every non-constant value; return the values known at load.

    Refuses (ModelInputError, with the figure) a model whose activations cannot fit in this
    machine's available memory before any of them is allocated."""
    shapes = {k: v for k, v in graph.inputs.items()}
    known: dict[str, np.ndarray] = {}
    mem = _Activations(graph, shapes)
    for idx, node in enumerate(graph.nodes):
        ins = [None if not i else graph.consts.get(i, known.get(i)) for i in node.inputs]
        try:
            with np.errstate(all="ignore"):
                if node.op in ("Conv", "ConvTranspose"):
                    consts = {i: graph.consts[i] for i in node.inputs if i in graph.consts}
                    in_shapes = [shapes[i][0] if i in shapes else None for i in node.inputs]
                    fn = _conv_shape if node.op == "Conv" else _conv_transpose_shape
                    shapes[node.outputs[0]] = (fn(node, in_shapes, consts), np.dtype(np.float32))
                    mem.after(idx, node, shapes)
                    continue
                mem.before(node, [shapes[x] for x in node.inputs if x in shapes])
                all_known = all(v is not None or not name for v, name in zip(ins, node.inputs))
                args = [v if v is not None or not name else np.zeros(*shapes[name])
                        for v, name in zip(ins, node.inputs)]
                outs = OPS[node.op](node, args, graph.opset)
        except ConvlabError as e:
            if f"{node.name!r}" in str(e):
                raise
            # A ConvSpec/op check knows the parameter, not the node: name the node for the user.
            raise ModelLoadError(f"node {node.name!r} ({node.op}): {e}") from None
        except Exception as e:
            shown = [shapes[i][0] if i in shapes else np.shape(graph.consts.get(i, known.get(i)))
                     for i in node.inputs if i]
            raise ModelLoadError(f"node {node.name!r} ({node.op}) fails for input shapes {shown}: "
                                 f"{type(e).__name__}: {e}") from None
        for name, v in zip(node.outputs, outs):
            if not name:
                continue
            v = np.asarray(v)
            shapes[name] = (tuple(v.shape), v.dtype)
            if all_known or node.op == "Shape":
                known[name] = v
        mem.after(idx, node, shapes)
    graph.shapes = shapes
    return known
