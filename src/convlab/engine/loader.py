"""ONNX file -> engine Graph, with every input shape fixed and every problem reported at load.

What is checked here, so nothing fails mid-run: the file parses; the default-domain opset is in
9..21; every op and attribute value is implemented (all offenders listed at once, with the
supported set); every value a node reads is defined; input shapes are fully known after
``input_shapes`` fixes dynamic dims. Old exporters list initializers among the graph inputs as
well; those are treated as constants, not as inputs to feed.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .errors import ModelInputError, ModelLoadError, UnsupportedOpError
from .graph import Graph, Node
from .ops import CHECKS, SUPPORTED

MIN_OPSET, MAX_OPSET = 9, 21


def read_model(source) -> onnx.ModelProto:
    """A path, bytes or a ModelProto -> ModelProto, with unreadable files as ModelLoadError."""
    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, (bytes, bytearray)):
        data, where, base = bytes(source), "the given bytes", None
    else:
        path = os.fspath(source)
        if os.path.isdir(path):
            raise ModelLoadError(f"{path}: is a directory, not an ONNX file")
        if not os.path.isfile(path):
            raise ModelLoadError(f"{path}: no such file")
        with open(path, "rb") as f:
            data = f.read()
        where, base = path, os.path.dirname(os.path.abspath(path))
    try:
        model = onnx.ModelProto()
        model.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError or plain exceptions depending on the backend
        raise ModelLoadError(f"{where}: not a readable ONNX model (truncated or corrupt?): {e}") from None
    if not model.HasField("graph") or not model.graph.output:
        raise ModelLoadError(f"{where}: parsed, but holds no graph with outputs (empty, truncated or not ONNX)")
    if base is not None and any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        try:
            onnx.external_data_helper.load_external_data_for_model(model, base)
        except Exception as e:
            raise ModelLoadError(f"{where}: cannot load external weight data: {e}") from None
    return model


def default_opset(model: onnx.ModelProto) -> int:
    versions = {o.domain: o.version for o in model.opset_import}
    opset = versions.get("", versions.get("ai.onnx"))
    if opset is None:
        raise ModelLoadError("the model imports no default-domain (ai.onnx) opset")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ModelLoadError(f"opset {opset} is outside the supported range {MIN_OPSET}..{MAX_OPSET}")
    return opset


def _tensor(t: onnx.TensorProto, what: str) -> np.ndarray:
    if any(d < 0 for d in t.dims):
        raise ModelLoadError(f"{what} {t.name!r} has negative dimensions {list(t.dims)} (corrupt model?)")
    try:
        return numpy_helper.to_array(t)
    except Exception as e:
        raise ModelLoadError(f"{what} {t.name!r} cannot be decoded (corrupt model?): {e}") from None


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    a = {x.name: x for x in node.attribute}
    if "value" in a:
        return _tensor(a["value"].t, "Constant")
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return np.array(helper.get_attribute_value(a[key]), dtype)
    raise UnsupportedOpError([(node.name, "Constant", f"attribute {sorted(a)} is not supported")], SUPPORTED)


def schema_problem(n: onnx.NodeProto, opset: int) -> str | None:
    """What ONNX's own schema of the op says is wrong with this node (input/output count, attribute
    types, unknown attributes), else None. onnxruntime refuses these models as INVALID_GRAPH; without
    this check a STRING attribute "2" where INTS are expected was read as a number, a fourth Conv input
    ignored, a second Conv output left undefined."""
    try:
        schema = onnx.defs.get_schema(n.op_type, opset, "")
    except Exception:
        # an op convlab implements that ONNX only defines from a later opset (HardSwish before 14)
        return f"is not an operator of opset {opset}"
    n_in = len(n.input)
    while n_in and not n.input[n_in - 1]:
        n_in -= 1     # trailing empty names are omitted optional inputs
    if not schema.min_input <= n_in <= schema.max_input:
        return (f"has {n_in} inputs; {n.op_type}-{schema.since_version} takes "
                f"{schema.min_input}..{schema.max_input}")
    if not schema.min_output <= len(n.output) <= schema.max_output:
        return (f"has {len(n.output)} outputs; {n.op_type}-{schema.since_version} produces "
                f"{schema.min_output}..{schema.max_output}")
    given = {a.name for a in n.attribute}
    missing = [name for name, a in schema.attributes.items() if a.required and name not in given]
    if missing:
        return f"lacks the required attribute(s) {', '.join(missing)} of {n.op_type}-{schema.since_version}"
    for a in n.attribute:
        want = schema.attributes.get(a.name)
        if want is None:
            return f"attribute {a.name!r} is not an attribute of {n.op_type}-{schema.since_version}"
        if int(a.type) != int(want.type):
            return (f"attribute {a.name!r} is {onnx.AttributeProto.AttributeType.Name(a.type)}, "
                    f"{n.op_type} expects {want.type.name}")
    return None


def _input_shape(vi: onnx.ValueInfoProto, given) -> tuple[int, ...]:
    dims = vi.type.tensor_type.shape.dim if vi.type.tensor_type.HasField("shape") else None
    if given is not None:
        try:
            shape = tuple(int(d) for d in given)
        except (TypeError, ValueError):
            raise ModelInputError(f"shape for input {vi.name!r} must be a sequence of ints, got {given!r}") from None
        if dims is not None and len(dims) != len(shape):
            raise ModelInputError(f"input {vi.name!r} has rank {len(dims)} but the given shape {shape} has rank {len(shape)}")
        if min(shape, default=1) < 1:
            raise ModelInputError(f"input {vi.name!r}: shape {shape} has a dimension < 1")
        return shape
    if dims is None:
        raise ModelInputError(f"input {vi.name!r} has no declared shape: give input_shapes={{{vi.name!r}: (...)}} "
                              f"(--shape {vi.name}=1,3,H,W)")
    shape, dynamic = [], []
    for i, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value <= 0:
            # an explicit 0 is an empty tensor to onnxruntime, not a free batch size
            raise ModelInputError(f"input {vi.name!r} declares dimension {i} as {d.dim_value}: give a shape with "
                                  f"input_shapes={{{vi.name!r}: (...)}} (--shape {vi.name}=1,3,H,W)")
        if d.HasField("dim_value") and d.dim_value > 0:
            shape.append(d.dim_value)
        elif i == 0:
            shape.append(1)                # an unnamed or symbolic batch dim defaults to 1
        else:
            shape.append(-1)
            dynamic.append(d.dim_param or f"dim {i}")
    if dynamic:
        raise ModelInputError(f"input {vi.name!r} has dynamic dims {dynamic}: fix them with "
                              f"input_shapes={{{vi.name!r}: (...)}} (--shape {vi.name}=1,3,H,W)")
    return tuple(shape)


def load_graph(source, input_shapes: dict | None = None) -> Graph:
    model = read_model(source)
    opset = default_opset(model)
    g = model.graph
    if g.sparse_initializer:
        raise ModelLoadError("sparse initializers are not supported")
    consts = {t.name: _tensor(t, "initializer") for t in g.initializer}
    input_shapes = dict(input_shapes or {})
    inputs = {}
    for vi in g.input:
        if vi.name in consts:
            continue    # an old-style export: the initializer is also listed as an input
        elem = vi.type.tensor_type.elem_type
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem))
        except Exception:
            raise ModelLoadError(f"input {vi.name!r} has unsupported element type {elem}") from None
        inputs[vi.name] = (_input_shape(vi, input_shapes.pop(vi.name, None)), dtype)
    if input_shapes:
        raise ModelInputError(f"shapes given for unknown input(s) {sorted(input_shapes)}; the model's inputs are "
                              f"{sorted(inputs)}")

    defined = set(consts) | set(inputs)
    if len(g.initializer) != len(consts):
        # onnxruntime takes identical copies of an initializer; two different values under one name
        # are ambiguous (which one a runtime uses is unspecified), so convlab refuses those
        for t in g.initializer:
            if not np.array_equal(_tensor(t, "initializer"), consts[t.name]):
                raise ModelLoadError(f"initializer {t.name!r} is defined twice with different values")
    nodes, problems, used_names, invalid = [], [], set(), []
    for i, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{i}"
        while name in used_names:
            name += "_"
        used_names.add(name)
        for o in n.output:
            if o and o in defined:
                invalid.append(f"node {name!r} ({n.op_type}) writes {o!r}, which is already defined (by another node, "
                               "an input or an initializer)")
            defined.add(o)
        if n.domain not in ("", "ai.onnx"):
            problems.append((name, f"{n.domain}::{n.op_type}", "custom domain"))
            continue
        if n.op_type == "Constant":
            consts[n.output[0]] = _constant_value(n)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        node = Node(name, n.op_type, list(n.input), list(n.output), attrs)
        if n.op_type not in SUPPORTED:
            problems.append((name, n.op_type, ""))
        elif (why := schema_problem(n, opset)) is not None:
            invalid.append(f"node {name!r} ({n.op_type}) {why}")
        else:
            why = CHECKS[n.op_type](node, opset) if n.op_type in CHECKS else None
            if why:
                problems.append((name, n.op_type, why))
        nodes.append(node)
    if invalid:
        raise ModelLoadError("invalid model (onnxruntime refuses it too):\n  " + "\n  ".join(invalid))
    if problems:
        raise UnsupportedOpError(problems, SUPPORTED)
    graph = Graph(nodes, consts, inputs, [o.name for o in g.output], opset, g.name or "graph",
                  ir_version=model.ir_version or 8)
    graph.nodes = topological_order(graph)
    return graph


def topological_order(graph: Graph) -> list[Node]:
    """The nodes in an order where each runs after what it reads; undefined values are load errors."""
    defined = set(graph.consts) | set(graph.inputs) | {""}
    pending, ordered = list(graph.nodes), []
    while pending:
        ready = [n for n in pending if all(i in defined for i in n.inputs)]
        if not ready:
            n = pending[0]
            missing = [i for i in n.inputs if i not in defined]
            raise ModelLoadError(f"node {n.name!r} ({n.op}) reads {missing}, which no node, input or initializer "
                                 "defines (truncated or inconsistent model?)")
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
        ordered += ready
        defined.update(o for n in ready for o in n.outputs)
    missing = [o for o in graph.outputs if o not in defined]
    if missing:
        raise ModelLoadError(f"graph outputs {missing} are not produced by any node")
    return ordered
