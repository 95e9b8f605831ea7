"""TensorFlow.js graph model (model.json + .bin weight shards) -> a standard ONNX model, NCHW.

A TF.js graph model is a TensorFlow GraphDef written as JSON (``modelTopology.node``: name, op,
inputs, attributes with base64 strings) plus a ``weightsManifest``: groups of weights, each group's
values concatenated little-endian across its shard files in the listed order, optionally quantised
(``quantization.dtype`` uint8/uint16: ``q * scale + min``; float16: IEEE half), decoded exactly as
tfjs-core's ``io.decodeWeights`` does.

TensorFlow computes in NHWC; convlab's kernels in NCHW. Every 4-D value of the converted graph is
NCHW: 4-D constants are transposed once at conversion, lower-rank constants that broadcast against
a 4-D value are lifted to 4-D and transposed, and axis arguments (reductions, Squeeze, ConcatV2,
Pad, Softmax) are remapped. Where TF's semantics depend on NHWC memory order (Reshape, or a
Squeeze/reduction whose remaining axes would come out in another order) the value is transposed
back to NHWC first (a Reshape instead when the order is the same, e.g. 1x1 spatial). The graph input
is NCHW by default (``input_layout="NHWC"`` keeps TF.js's NHWC input and inserts one Transpose
after it); 4-D graph outputs are transposed back to NHWC, so every output equals the TF.js model's.
The batch is fixed (default 1), as convlab's engine fixes input shapes at load.

Ops converted (TF op -> ONNX), see `SUPPORTED_OPS`; any other op is a `TfjsImportError` naming each
offending node. Only ops on the path to the outputs are converted, as TF.js executes only those.
PReLU spelled out in elementary ops (max(0, x) + a min(0, x), or relu(x) + m (x - |x|)) becomes one
ONNX PRelu, bit for bit the same values, so convlab fuses it into the conv before it; a zero Pad
feeding a VALID conv becomes that conv's padding.
"""
from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ConvlabError

OPSET = 13
# Bumped whenever the ONNX written for the same TF.js model changes, so cached conversions are redone.
CONVERTER_VERSION = 1


class TfjsImportError(ConvlabError):
    """A TF.js model file cannot be read or converted (bad JSON, weights, or an op convlab does not convert)."""


# manifest dtype -> (numpy dtype of the stored values, of the decoded tensor)
_DTYPES = {"float32": ("<f4", np.float32), "int32": ("<i4", np.int32), "bool": ("u1", np.bool_)}
_QUANTIZED = {"uint8": "u1", "uint16": "<u2", "float16": "<f2"}

# the Transpose perm NHWC -> NCHW, and where each NHWC axis sits in NCHW
_TO_NCHW = (0, 3, 1, 2)
_TF_AXIS_IN_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}

_BINARY = {"Add": ("Add", np.add), "AddV2": ("Add", np.add), "Sub": ("Sub", np.subtract),
           "Mul": ("Mul", np.multiply), "RealDiv": ("Div", np.divide), "Div": ("Div", np.divide),
           "Maximum": ("Max", np.maximum), "Minimum": ("Min", np.minimum), "Pow": ("Pow", np.power)}
_UNARY = {"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Abs": "Abs", "Neg": "Neg", "Sqrt": "Sqrt",
          "Exp": "Exp", "Elu": "Elu"}
_REDUCE = {"Sum": "ReduceSum", "Mean": "ReduceMean", "Max": "ReduceMax"}
_FUSED_ACTIVATIONS = ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu", "Prelu")
_ALIASES = ("Identity", "StopGradient", "Snapshot")
SUPPORTED_OPS = sorted({"Placeholder", "Const", "Conv2D", "_FusedConv2D", "DepthwiseConv2dNative",
                        "FusedDepthwiseConv2dNative", "BiasAdd", "Relu6", "LeakyRelu", "Prelu", "Square", "Rsqrt",
                        "MaxPool", "AvgPool", "Squeeze", "Reshape", "ConcatV2", "Pad", "PadV2", "MatMul",
                        "_FusedMatMul", "Softmax", "FusedBatchNorm", "FusedBatchNormV3",
                        *_BINARY, *_UNARY, *_REDUCE, *_ALIASES})


# ---- reading the files ---------------------------------------------------------------------------------

def read_model_json(path) -> dict:
    """model.json as a dict, with unreadable or non-graph-model files as TfjsImportError."""
    path = Path(path)
    if not path.is_file():
        raise TfjsImportError(f"{path}: no such file")
    try:
        model = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TfjsImportError(f"{path}: not valid JSON (truncated or corrupt?): {e}") from None
    if not isinstance(model, dict):
        raise TfjsImportError(f"{path}: a TF.js model.json is a JSON object, got {type(model).__name__}")
    topology = model.get("modelTopology")
    if model.get("format") == "layers-model" or (isinstance(topology, dict) and "model_config" in topology):
        raise TfjsImportError(f"{path}: a TF.js layers model (Keras config); only graph models "
                              "(modelTopology.node, from tensorflowjs_converter --output_format tfjs_graph_model) convert")
    if not isinstance(topology, dict) or not isinstance(topology.get("node"), list):
        raise TfjsImportError(f"{path}: no modelTopology.node list: not a TF.js graph model")
    if not isinstance(model.get("weightsManifest"), list):
        raise TfjsImportError(f"{path}: no weightsManifest list")
    return model


def _weight_spec(w, where: str) -> tuple[str, tuple[int, ...], str, dict | None]:
    if not isinstance(w, dict) or not isinstance(w.get("name"), str):
        raise TfjsImportError(f"{where}: a weight entry needs a name, got {w!r:.80}")
    name, shape, dtype = w["name"], w.get("shape"), w.get("dtype")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise TfjsImportError(f"{where}: weight {name!r} has shape {shape!r}; expected a list of non-negative ints")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise TfjsImportError(f"{where}: weight {name!r} has dtype {dtype!r}; convertible: {', '.join(_DTYPES)}")
    q = w.get("quantization")
    if q is not None:
        if not isinstance(q, dict) or not isinstance(q.get("dtype"), str) or q["dtype"] not in _QUANTIZED:
            raise TfjsImportError(f"{where}: weight {name!r} has quantization {q!r:.80}; known: "
                                  f"{', '.join(_QUANTIZED)}")
        if q["dtype"] == "float16" and dtype != "float32":
            raise TfjsImportError(f"{where}: weight {name!r} is {dtype} stored as float16; only float32 weights can be")
        if q["dtype"] != "float16" and not all(isinstance(q.get(k), (int, float)) for k in ("scale", "min")):
            raise TfjsImportError(f"{where}: weight {name!r} is {q['dtype']}-quantised without numeric scale and min")
        if dtype == "bool":
            raise TfjsImportError(f"{where}: weight {name!r} is a quantised bool")
    return name, tuple(shape), dtype, q


def _decode(buf: bytes, shape, dtype: str, q: dict | None) -> np.ndarray:
    if q is None:
        return np.frombuffer(buf, _DTYPES[dtype][0]).astype(_DTYPES[dtype][1]).reshape(shape)
    stored = np.frombuffer(buf, _QUANTIZED[q["dtype"]])
    if q["dtype"] == "float16":
        return stored.astype(np.float32).reshape(shape)
    # tfjs computes q * scale + min in double, then stores it as float32 (or rounds it for int32)
    values = stored.astype(np.float64) * q["scale"] + q["min"]
    return (np.round(values).astype(np.int32) if dtype == "int32" else values.astype(np.float32)).reshape(shape)


def read_weights(model: dict, directory, where: str = "model.json") -> dict[str, np.ndarray]:
    """Every weight of the manifest, decoded (dequantised to float32 / int32), by name."""
    out = {}
    for g, group in enumerate(model["weightsManifest"]):
        gwhere = f"{where}: weightsManifest[{g}]"
        if not isinstance(group, dict) or not isinstance(group.get("paths"), list) \
                or not isinstance(group.get("weights"), list):
            raise TfjsImportError(f"{gwhere}: a weight group needs 'paths' and 'weights' lists")
        specs = [_weight_spec(w, gwhere) for w in group["weights"]]
        chunks = []
        for p in group["paths"]:
            if not isinstance(p, str) or os.path.isabs(p) or ".." in Path(p).parts:
                raise TfjsImportError(f"{gwhere}: shard path {p!r} must be a relative path beside model.json")
            f = Path(directory) / p
            if not f.is_file():
                raise TfjsImportError(f"{gwhere}: weight shard {f} is missing")
            chunks.append(f.read_bytes())
        data = b"".join(chunks)
        sizes = [math.prod(shape) * np.dtype(_QUANTIZED[q["dtype"]] if q else _DTYPES[dtype][0]).itemsize
                 for _, shape, dtype, q in specs]
        if sum(sizes) != len(data):
            raise TfjsImportError(f"{gwhere}: shards {group['paths']} hold {len(data)} bytes, the manifest's "
                                  f"{len(specs)} weights take {sum(sizes)} (truncated shard or wrong weight sizes?)")
        offset = 0
        for (name, shape, dtype, q), size in zip(specs, sizes):
            out[name] = _decode(data[offset:offset + size], shape, dtype, q)
            offset += size
    return out


# ---- attributes ----------------------------------------------------------------------------------------

def _attr(node: dict, key: str, default=None):
    """A GraphDef attribute in its JSON form, decoded: strings from base64, ints from their decimal strings."""
    a = (node.get("attr") or {}).get(key)
    if a is None:
        return default
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    if "type" in a:
        return a["type"]
    if "list" in a:
        lst = a["list"]
        if "s" in lst:
            return [base64.b64decode(s).decode() for s in lst["s"]]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        return []
    return a


def _ref(ref: str) -> tuple[str, int]:
    """A GraphDef input reference 'node', 'node:1' -> (node, output index)."""
    name, _, idx = ref.partition(":")
    return name, int(idx) if idx.isdigit() else 0


# ---- PReLU written out in elementary ops ---------------------------------------------------------------

def _is_zero(weights: dict, tf: str) -> bool:
    v = weights.get(tf)
    return v is not None and v.size == 1 and v.dtype == np.float32 and float(v.reshape(-1)[0]) == 0.0


def _fold_prelus(by_name: dict, outputs: list[str], weights: dict) -> None:
    """Rewrite the two ways exporters spell PReLU(x, a) without a PReLU op into TF's Prelu node, in place:

    - max(0, x) + a * min(0, x)        (MXNet / Keras converts; exact: each side is 0 where the other is not)
    - relu(x) + (x - |x|) * m, a = 2m  (TF's slim-era prelu; exact: x - |x| is 2x, and scaling by 2 is exact)

    The Add node becomes the Prelu, so the intermediate nodes fall off the path to the outputs and are
    never converted: convlab then fuses the PReLU into the conv before it. Only chains whose intermediate
    values nothing else reads are rewritten."""
    uses = _uses(by_name, outputs)

    def node(ref: str, *ops: str) -> dict | None:
        n = by_name.get(_ref(ref)[0])
        return n if n is not None and n["op"] in ops and uses.get(n["name"], 0) == 1 else None

    def ins(n: dict) -> list[str]:
        return [_ref(i)[0] for i in n.get("input", []) if not i.startswith("^")]

    def match(pos_ref: str, neg_ref: str) -> tuple[str, str, np.ndarray] | None:
        mul = node(neg_ref, "Mul")
        if mul is None or len(ins(mul)) != 2:
            return None
        for other, const in (ins(mul), ins(mul)[::-1]):
            if const not in weights or weights[const].dtype != np.float32:
                continue
            pos = node(pos_ref, "Maximum", "Relu")
            if pos is None:
                return None
            if pos["op"] == "Maximum":           # max(0, x) + a * min(0, x)
                neg = node(other, "Minimum")
                if neg is None or len(ins(pos)) != 2 or len(ins(neg)) != 2:
                    return None
                xs = [t for t in ins(pos) if not _is_zero(weights, t)]
                if len(xs) == 1 and [t for t in ins(neg) if not _is_zero(weights, t)] == xs:
                    return xs[0], const, weights[const]
                return None
            sub = node(other, "Sub")              # relu(x) + (x - |x|) * m
            if sub is None or len(ins(sub)) != 2 or len(ins(pos)) != 1:
                return None
            x = ins(pos)[0]
            absolute = node(ins(sub)[1], "Abs")
            if ins(sub)[0] == x and absolute is not None and ins(absolute) == [x]:
                return x, const + "/prelu_slope", 2 * weights[const]
            return None
        return None

    for n in list(by_name.values()):
        if n["op"] not in ("Add", "AddV2") or len(ins(n)) != 2:
            continue
        a, b = ins(n)
        found = match(a, b) or match(b, a)
        if found is None:
            continue
        x, slope_name, slope = found
        weights[slope_name] = slope.astype(np.float32)
        by_name.setdefault(slope_name, {"name": slope_name, "op": "Const"})
        by_name[n["name"]] = {"name": n["name"], "op": "Prelu", "input": [x, slope_name]}


def _uses(by_name: dict, outputs: list[str]) -> dict[str, int]:
    uses: dict[str, int] = {}
    for n in by_name.values():
        for i in n.get("input", []):
            if not i.startswith("^"):
                uses[_ref(i)[0]] = uses.get(_ref(i)[0], 0) + 1
    for o in outputs:
        uses[o] = uses.get(o, 0) + 1
    return uses


def _fold_pads(by_name: dict, outputs: list[str], weights: dict) -> None:
    """A zero Pad of H and W read only by a VALID conv becomes the conv's own explicit padding (TF's
    padding="EXPLICIT"), in place: the same values, one node less, and an ONNX file that runtimes without
    a standalone Pad layer (ncnn through pnnx) also take."""
    uses = _uses(by_name, outputs)
    for n in list(by_name.values()):
        if n["op"] not in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative") \
                or _attr(n, "padding") != "VALID" or not n.get("input"):
            continue
        pad = by_name.get(_ref(n["input"][0])[0])
        if pad is None or pad["op"] not in ("Pad", "PadV2") or uses.get(pad["name"], 0) != 1:
            continue
        refs = [_ref(i)[0] for i in pad.get("input", []) if not i.startswith("^")]
        paddings = weights.get(refs[1]) if len(refs) > 1 else None
        value = weights.get(refs[2]) if len(refs) > 2 else np.zeros(1, np.float32)
        if paddings is None or paddings.shape != (4, 2) or value is None or value.size != 1 or float(value.reshape(-1)[0]) \
                or paddings[0].any() or paddings[3].any() or (paddings < 0).any():
            continue
        explicit = [0, 0, *(int(v) for v in paddings[1]), *(int(v) for v in paddings[2]), 0, 0]
        attr = dict(n.get("attr", {}), padding={"s": base64.b64encode(b"EXPLICIT").decode()},
                    explicit_paddings={"list": {"i": [str(v) for v in explicit]}})
        by_name[n["name"]] = dict(n, input=[pad["input"][0], *n["input"][1:]], attr=attr)


# ---- conversion ----------------------------------------------------------------------------------------

class _Converter:
    def __init__(self, model: dict, weights: dict, input_layout: str, batch: int, where: str):
        self.where = where
        self.weights = weights
        self.input_layout = input_layout
        self.batch = batch
        self.by_name = {}
        for n in model["modelTopology"]["node"]:
            if not isinstance(n, dict) or not isinstance(n.get("name"), str) or not isinstance(n.get("op"), str) \
                    or not isinstance(n.get("input", []), list) or not all(isinstance(i, str) for i in n.get("input", [])) \
                    or not isinstance(n.get("attr", {}), dict):
                raise TfjsImportError(f"{where}: a node needs a name, an op, a list of input names and an attr "
                                      f"mapping; got {n!r:.80}")
            self.by_name[n["name"]] = n
        self.outputs = self._graph_outputs(model)
        try:
            _fold_prelus(self.by_name, self.outputs, weights)
            _fold_pads(self.by_name, self.outputs, weights)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            raise TfjsImportError(f"{where}: malformed nodes or attributes ({type(e).__name__}: {e})") from None
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.value: dict[str, str] = {}        # TF node -> ONNX value (NCHW when 4-D)
        self.shape: dict[str, tuple] = {}      # TF node -> static shape, TF (NHWC) order
        self.const: dict[str, np.ndarray] = {}  # TF node -> value, TF order, for constants
        # graph inputs and outputs keep their TF names, so no generated name may take one
        self.taken = set(self.outputs) | {n for n, node in self.by_name.items() if node["op"] == "Placeholder"}

    def _graph_outputs(self, model: dict) -> list[str]:
        meta = model.get("userDefinedMetadata")
        sig = model.get("signature") or (meta.get("signature") if isinstance(meta, dict) else None) or {}
        outputs = sig.get("outputs") if isinstance(sig, dict) else None
        if not isinstance(outputs, (dict, type(None))) or \
                not all(isinstance(o, dict) and isinstance(o.get("name", k), str) for k, o in (outputs or {}).items()):
            raise TfjsImportError(f"{self.where}: signature.outputs is not a mapping of named outputs")
        named = [_ref(o.get("name", k))[0] for k, o in (outputs or {}).items()]
        if named:
            missing = [n for n in named if n not in self.by_name]
            if missing:
                raise TfjsImportError(f"{self.where}: the signature's outputs {missing} are not nodes of the graph")
            return named
        consumed = {_ref(i)[0] for n in self.by_name.values() for i in n.get("input", []) if not i.startswith("^")}
        return [n for n, node in self.by_name.items() if n not in consumed and node["op"] not in ("Const", "NoOp")]

    # -- emitting ONNX --
    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    def emit(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def init(self, arr: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    # -- values --
    def operand(self, tf: str, rank: int) -> str:
        """tf's value in the graph's layout, ready to broadcast against a value of `rank` (4: NCHW)."""
        if tf in self.const:
            arr = self.const[tf]
            if rank == 4 and arr.ndim >= 1:
                arr = arr.reshape((1,) * (4 - arr.ndim) + arr.shape).transpose(_TO_NCHW)
            return self.init(arr, tf)
        r = len(self.shape[tf])
        if rank == 4 and 0 < r < 4:
            shape4 = (1,) * (4 - r) + self.shape[tf]
            lifted = self.emit("Reshape", [self.value[tf], self.init(np.array(shape4, np.int64), tf + "/shape4")],
                               tf + "/rank4")
            return self.from_tf(lifted, shape4, tf)
        return self.value[tf]

    def tf_order(self, tf: str) -> str:
        """A dynamic value with its data in TF (NHWC) order: 4-D values are transposed back, or reshaped
        when the transposition moves no data (1x1 spatial, or one channel)."""
        shape = self.shape[tf]
        if len(shape) != 4:
            return self.value[tf]
        if shape[1] * shape[2] == 1 or shape[3] == 1:
            return self.emit("Reshape", [self.value[tf], self.init(np.array(shape, np.int64), tf + "/nhwc_shape")],
                             tf + "/nhwc")
        return self.emit("Transpose", [self.value[tf]], tf + "/nhwc", perm=[0, 2, 3, 1])

    def from_tf(self, name: str, tf_shape, hint: str) -> str:
        """The NCHW form of a 4-D value held in TF order."""
        n, h, w, c = tf_shape
        if h * w == 1 or c == 1:
            return self.emit("Reshape", [name, self.init(np.array([n, c, h, w], np.int64), hint + "/nchw_shape")],
                             hint + "/nchw")
        return self.emit("Transpose", [name], hint + "/nchw", perm=list(_TO_NCHW))

    def const_of(self, node: dict, ref: str, what: str) -> np.ndarray:
        tf = _ref(ref)[0]
        if tf not in self.const:
            raise TfjsImportError(f"node {node['name']!r} ({node['op']}): its {what} {tf!r} must be a constant")
        return self.const[tf]

    def dynamic(self, node: dict, ref: str, rank: int | None = None) -> str:
        tf = _ref(ref)[0]
        if tf in self.const:
            raise TfjsImportError(f"node {node['name']!r} ({node['op']}): input {tf!r} is a constant; only "
                                  "computed tensors are converted here")
        if rank is not None and len(self.shape[tf]) != rank:
            raise TfjsImportError(f"node {node['name']!r} ({node['op']}): input {tf!r} has shape "
                                  f"{list(self.shape[tf])}; the op is converted for rank {rank} only")
        return tf

    # -- the graph --
    def run(self) -> onnx.ModelProto:
        order = self._topological()
        unsupported = [(n["name"], n["op"]) for n in order if n["op"] not in SUPPORTED_OPS]
        if unsupported:
            listed = "; ".join(f"{name!r} ({op})" for name, op in unsupported)
            raise TfjsImportError(f"{self.where}: {len(unsupported)} node(s) use ops the TF.js importer does not "
                                  f"convert: {listed}. Converted ops: {', '.join(SUPPORTED_OPS)}")
        for n in order:
            for i in n.get("input", []):
                if not i.startswith("^") and _ref(i)[1] != 0:
                    raise TfjsImportError(f"node {n['name']!r} ({n['op']}) reads output {_ref(i)[1]} of "
                                          f"{_ref(i)[0]!r}; only first outputs are converted")
            try:
                self._convert(n)
            except ConvlabError:
                raise
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                # a hand-edited or corrupt attribute (a list where TF writes an int, "x" for a stride, ...)
                raise TfjsImportError(f"node {n['name']!r} ({n['op']}): malformed attributes or inputs "
                                      f"({type(e).__name__}: {e})") from None
        outs = []
        for tf in self.outputs:
            if tf in self.const:
                raise TfjsImportError(f"{self.where}: output {tf!r} is a constant")
            src = self.tf_order(tf) if len(self.shape[tf]) == 4 else self.value[tf]
            self.nodes.append(helper.make_node("Identity", [src], [tf], name=tf + "/output"))
            outs.append(helper.make_tensor_value_info(tf, TensorProto.FLOAT, list(self.shape[tf])))
        graph = helper.make_graph(self.nodes, "tfjs", self.inputs, outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="convlab.importers.tfjs")
        model.ir_version = 8
        return model

    def _topological(self) -> list[dict]:
        order, state = [], {}
        for out in self.outputs:
            stack = [(out, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(self.by_name[name])
                    continue
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise TfjsImportError(f"{self.where}: the graph has a cycle through {name!r}")
                state[name] = 1
                stack.append((name, True))
                for ref in self.by_name[name].get("input", []):
                    dep = _ref(ref.lstrip("^"))[0]
                    if dep not in self.by_name:
                        raise TfjsImportError(f"{self.where}: node {name!r} reads {dep!r}, which is not a node")
                    if state.get(dep) != 2:
                        stack.append((dep, False))
        return order

    def _convert(self, n: dict) -> None:
        op, name = n["op"], n["name"]
        ins = [i for i in n.get("input", []) if not i.startswith("^")]
        if op == "Const":
            return self._const(n)
        if op == "Placeholder":
            return self._placeholder(n)
        if op in _ALIASES:
            src = _ref(ins[0])[0]
            for table in (self.value, self.shape, self.const):
                if src in table:
                    table[name] = table[src]
            return None
        srcs = [_ref(i)[0] for i in ins]
        if (op in _BINARY or op in _UNARY) and all(s in self.const for s in srcs):
            return self._fold(n, srcs)
        handler = getattr(self, "_op_" + op.lstrip("_"), None)
        if op in _BINARY:
            handler = self._binary
        elif op in _UNARY:
            handler = self._unary
        elif op in _REDUCE:
            handler = self._reduce
        handler(n, ins)

    def _fold(self, n: dict, srcs: list[str]) -> None:
        vals = [self.const[s] for s in srcs]
        if n["op"] in _BINARY:
            out = _BINARY[n["op"]][1](*vals)
        else:
            out = {"Relu": lambda x: np.maximum(x, 0), "Sigmoid": lambda x: 1 / (1 + np.exp(-x)), "Tanh": np.tanh,
                   "Abs": np.abs, "Neg": np.negative, "Sqrt": np.sqrt, "Exp": np.exp,
                   "Elu": lambda x: np.where(x > 0, x, np.expm1(x))}[n["op"]](vals[0])
        self.const[n["name"]] = np.asarray(out).astype(vals[0].dtype)

    def _const(self, n: dict) -> None:
        name = n["name"]
        if name not in self.weights:
            raise TfjsImportError(f"{self.where}: Const node {name!r} has no entry in the weights manifest")
        value = self.weights[name]
        declared = ((_attr(n, "value") or {}).get("tensor") or {}).get("tensorShape", {})
        dims = declared.get("dim")
        if dims is not None and tuple(int(d.get("size", 0)) for d in dims) != value.shape:
            raise TfjsImportError(f"{self.where}: Const node {name!r} declares shape "
                                  f"{[int(d.get('size', 0)) for d in dims]}, its manifest weight has {list(value.shape)}")
        self.const[name] = value

    def _placeholder(self, n: dict) -> None:
        name = n["name"]
        dtype = _attr(n, "dtype")
        if dtype not in (None, "DT_FLOAT"):
            raise TfjsImportError(f"{self.where}: input {name!r} is {dtype}; only float inputs are converted")
        shp = _attr(n, "shape") or {}
        dims = (shp.get("shape") or shp).get("dim") if isinstance(shp, dict) else None
        if not dims:
            raise TfjsImportError(f"{self.where}: input {name!r} declares no shape")
        shape = [int(d.get("size", -1)) for d in dims]
        if shape[0] == -1:
            shape[0] = self.batch
        if any(d < 1 for d in shape):
            raise TfjsImportError(f"{self.where}: input {name!r} has unknown dimensions {shape} beyond the batch")
        shape = tuple(shape)
        self.shape[name] = shape
        self.taken.add(name)
        if len(shape) != 4:
            self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
            self.value[name] = name
        elif self.input_layout == "NCHW":
            self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [shape[i] for i in _TO_NCHW]))
            self.value[name] = name
        else:
            self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
            self.value[name] = self.emit("Transpose", [name], name + "/nchw", perm=list(_TO_NCHW))

    def _set(self, n: dict, value: str, tf_shape) -> None:
        self.value[n["name"]] = value
        self.shape[n["name"]] = tuple(int(d) for d in tf_shape)

    # -- convolution family --
    def _window(self, n: dict, x_shape, kernel, strides, dilations) -> tuple[list[int], list[int]]:
        """ONNX pads [top, left, bottom, right] and the output H, W for TF's padding attribute."""
        padding = _attr(n, "padding", "VALID")
        pads, out = [0, 0, 0, 0], []
        for i, (size, k, s, d) in enumerate(zip(x_shape[1:3], kernel, strides, dilations)):
            eff = (k - 1) * d + 1
            if padding == "SAME":
                o = -(-size // s)
                total = max((o - 1) * s + eff - size, 0)
                pads[i], pads[i + 2] = total // 2, total - total // 2   # TF puts the odd pixel after
            elif padding == "VALID":
                o = (size - eff) // s + 1
            elif padding == "EXPLICIT":
                explicit = _attr(n, "explicit_paddings", [])
                if len(explicit) != 8:
                    raise TfjsImportError(f"node {n['name']!r} ({n['op']}): explicit_paddings {explicit} is not 4 pairs")
                pads[i], pads[i + 2] = explicit[2 + 2 * i], explicit[3 + 2 * i]
                o = (size + pads[i] + pads[i + 2] - eff) // s + 1
            else:
                raise TfjsImportError(f"node {n['name']!r} ({n['op']}): padding {padding!r} is not converted")
            if o < 1:
                raise TfjsImportError(f"node {n['name']!r} ({n['op']}): a {k}-wide window does not fit the input's "
                                      f"{size} ({padding})")
            out.append(o)
        return pads, out

    def _nhwc_ints(self, n: dict, key: str, default) -> list[int]:
        v = _attr(n, key, default)
        if _attr(n, "data_format", "NHWC") != "NHWC":
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): data_format {_attr(n, 'data_format')} is not "
                                  "converted (NHWC only)")
        if not isinstance(v, list) or len(v) != 4 or v[0] != 1 or v[3] != 1 or min(v) < 1:
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): {key} {v} must be [1, h, w, 1]")
        return v[1:3]

    def _conv(self, n: dict, ins: list[str], depthwise: bool, fused_ops: list[str]) -> None:
        x = self.dynamic(n, ins[0], 4)
        w = self.const_of(n, ins[1], "filter")
        xs = self.shape[x]
        if w.ndim != 4 or w.dtype != np.float32:
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): filter of shape {list(w.shape)} ({w.dtype}); "
                                  "expected float32 [kh, kw, in, out]")
        kh, kw, cin, cout = w.shape
        strides = self._nhwc_ints(n, "strides", [1, 1, 1, 1])
        dil = self._nhwc_ints(n, "dilations", [1, 1, 1, 1])
        pads, (oh, ow) = self._window(n, xs, (kh, kw), strides, dil)
        if depthwise:
            if cin != xs[3]:
                raise TfjsImportError(f"node {n['name']!r} ({n['op']}): depthwise filter for {cin} channels, the "
                                      f"input has {xs[3]}")
            # TF's output channel c * multiplier + m is ONNX group c's m-th output
            weight, group, c_out = w.reshape(kh, kw, cin * cout).transpose(2, 0, 1)[:, None], cin, cin * cout
        else:
            if cin < 1 or xs[3] % cin:
                raise TfjsImportError(f"node {n['name']!r} ({n['op']}): filter for {cin} input channels, the input "
                                      f"has {xs[3]}")
            weight, group, c_out = w.transpose(3, 2, 0, 1), xs[3] // cin, cout
        args = ins[2:]
        bias = None
        ops = list(fused_ops)
        if ops[:1] == ["BiasAdd"]:
            if not args:
                raise TfjsImportError(f"node {n['name']!r} ({n['op']}): fused BiasAdd without a bias input")
            bias = self.const_of(n, args[0], "bias").reshape(-1)
            if bias.shape != (c_out,):
                raise TfjsImportError(f"node {n['name']!r} ({n['op']}): bias has {bias.size} values for {c_out} "
                                      "output channels")
            ops, args = ops[1:], args[1:]
        conv_in = [self.value[x], self.init(weight.astype(np.float32), n["name"] + "/weight")]
        if bias is not None:
            conv_in.append(self.init(bias.astype(np.float32), n["name"] + "/bias"))
        y = self.emit("Conv", conv_in, n["name"], kernel_shape=[kh, kw], strides=strides, dilations=dil, pads=pads,
                      group=group)
        shape = (xs[0], oh, ow, c_out)
        self._set(n, self._activations(n, y, shape, ops, args), shape)

    def _activations(self, n: dict, y: str, shape, ops: list[str], args: list[str]) -> str:
        if len(ops) > 1 or (ops and ops[0] not in _FUSED_ACTIVATIONS):
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): fused ops {ops} are not converted "
                                  f"(BiasAdd then one of {', '.join(_FUSED_ACTIVATIONS)})")
        if not ops:
            return y
        act = ops[0]
        if act == "Relu6":
            return self.emit("Clip", [y, self.init(np.array(0, np.float32), "zero"),
                                      self.init(np.array(6, np.float32), "six")], n["name"] + "/relu6")
        if act == "LeakyRelu":
            return self.emit("LeakyRelu", [y], n["name"] + "/leakyrelu", alpha=_attr(n, "leakyrelu_alpha", 0.2))
        if act == "Prelu":
            if not args:
                raise TfjsImportError(f"node {n['name']!r} ({n['op']}): fused Prelu without its alpha input")
            alpha_tf = _ref(args[0])[0]
            self.const_of(n, args[0], "Prelu alpha")
            return self.emit("PRelu", [y, self.operand(alpha_tf, len(shape))], n["name"] + "/prelu")
        return self.emit(act, [y], n["name"] + "/" + act.lower())

    def _op_Conv2D(self, n, ins):
        self._conv(n, ins, False, [])

    def _op_FusedConv2D(self, n, ins):
        self._conv(n, ins, False, _attr(n, "fused_ops", []))

    def _op_DepthwiseConv2dNative(self, n, ins):
        self._conv(n, ins, True, [])

    def _op_FusedDepthwiseConv2dNative(self, n, ins):
        self._conv(n, ins, True, _attr(n, "fused_ops", []))

    def _pool(self, n: dict, ins: list[str], onnx_op: str) -> None:
        x = self.dynamic(n, ins[0], 4)
        k = self._nhwc_ints(n, "ksize", None)
        s = self._nhwc_ints(n, "strides", [1, 1, 1, 1])
        pads, (oh, ow) = self._window(n, self.shape[x], k, s, (1, 1))
        # TF's AvgPool divides by the window's in-image pixels: ONNX's count_include_pad=0
        extra = {"count_include_pad": 0} if onnx_op == "AveragePool" else {}
        y = self.emit(onnx_op, [self.value[x]], n["name"], kernel_shape=k, strides=s, pads=pads, **extra)
        xs = self.shape[x]
        self._set(n, y, (xs[0], oh, ow, xs[3]))

    def _op_MaxPool(self, n, ins):
        self._pool(n, ins, "MaxPool")

    def _op_AvgPool(self, n, ins):
        self._pool(n, ins, "AveragePool")

    def _op_FusedBatchNorm(self, n, ins):
        x = self.dynamic(n, ins[0])
        if len(ins) < 5:
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): expects x, scale, offset, mean, variance")
        scale, offset, mean, var = (self.const_of(n, r, what).reshape(-1).astype(np.float32)
                                    for r, what in zip(ins[1:5], ("scale", "offset", "mean", "variance")))
        c = self.shape[x][-1]
        if any(v.size != c for v in (scale, offset, mean, var)):
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): parameters are not {c} per channel")
        if len(self.shape[x]) != 4:
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): converted for 4-D inputs only")
        y = self.emit("BatchNormalization", [self.value[x]] + [self.init(v, n["name"] + "/" + k) for v, k in
                                                                 zip((scale, offset, mean, var),
                                                                     ("scale", "offset", "mean", "var"))],
                      n["name"], epsilon=_attr(n, "epsilon", 1e-3))
        self._set(n, y, self.shape[x])

    _op_FusedBatchNormV3 = _op_FusedBatchNorm

    def _op_BiasAdd(self, n, ins):
        if _attr(n, "data_format", "NHWC") != "NHWC":
            raise TfjsImportError(f"node {n['name']!r} (BiasAdd): data_format {_attr(n, 'data_format')} is not "
                                  "converted (NHWC only)")
        x = self.dynamic(n, ins[0])
        b = _ref(ins[1])[0]
        bias = self.const_of(n, ins[1], "bias")
        if bias.shape != (self.shape[x][-1],):
            raise TfjsImportError(f"node {n['name']!r} (BiasAdd): bias of shape {list(bias.shape)} for "
                                  f"{self.shape[x][-1]} channels")
        rank = len(self.shape[x])
        self._set(n, self.emit("Add", [self.value[x], self.operand(b, rank)], n["name"]), self.shape[x])

    # -- element-wise --
    def _binary(self, n, ins):
        a, b = (_ref(i)[0] for i in ins[:2])
        try:
            shape = np.broadcast_shapes(self._shape_of(a), self._shape_of(b))
        except ValueError:
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): shapes {list(self._shape_of(a))} and "
                                  f"{list(self._shape_of(b))} do not broadcast") from None
        rank = len(shape)
        y = self.emit(_BINARY[n["op"]][0], [self.operand(a, rank), self.operand(b, rank)], n["name"])
        self._set(n, y, shape)

    def _shape_of(self, tf: str) -> tuple:
        return self.const[tf].shape if tf in self.const else self.shape[tf]

    def _unary(self, n, ins):
        x = self.dynamic(n, ins[0])
        self._set(n, self.emit(_UNARY[n["op"]], [self.value[x]], n["name"]), self.shape[x])

    def _op_Relu6(self, n, ins):
        x = self.dynamic(n, ins[0])
        self._set(n, self._activations(n, self.value[x], self.shape[x], ["Relu6"], []), self.shape[x])

    def _op_LeakyRelu(self, n, ins):
        x = self.dynamic(n, ins[0])
        y = self.emit("LeakyRelu", [self.value[x]], n["name"], alpha=_attr(n, "alpha", 0.2))
        self._set(n, y, self.shape[x])

    def _op_Prelu(self, n, ins):
        x = self.dynamic(n, ins[0])
        alpha = _ref(ins[1])[0]
        self.const_of(n, ins[1], "alpha")
        y = self.emit("PRelu", [self.value[x], self.operand(alpha, len(self.shape[x]))], n["name"])
        self._set(n, y, self.shape[x])

    def _op_Square(self, n, ins):
        x = self.dynamic(n, ins[0])
        self._set(n, self.emit("Mul", [self.value[x], self.value[x]], n["name"]), self.shape[x])

    def _op_Rsqrt(self, n, ins):
        x = self.dynamic(n, ins[0])
        root = self.emit("Sqrt", [self.value[x]], n["name"] + "/sqrt")
        self._set(n, self.emit("Div", [self.init(np.array(1, np.float32), "one"), root], n["name"]), self.shape[x])

    def _op_Softmax(self, n, ins):
        x = self.dynamic(n, ins[0])
        axis = 1 if len(self.shape[x]) == 4 else -1
        self._set(n, self.emit("Softmax", [self.value[x]], n["name"], axis=axis), self.shape[x])

    # -- axes and shapes --
    def _axes(self, n: dict, ref: str, rank: int) -> list[int]:
        axes = [int(a) for a in np.asarray(self.const_of(n, ref, "axes")).reshape(-1)]
        if any(not -rank <= a < rank for a in axes):
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): axes {axes} out of range for rank {rank}")
        return sorted({a % rank for a in axes})

    def _keeps_order(self, rank: int, dropped: list[int]) -> bool:
        """Whether dropping these TF axes of a 4-D NCHW value leaves the rest in TF's order."""
        if rank != 4:
            return True
        kept_nchw = [a for a in (0, 3, 1, 2) if a not in dropped]
        return kept_nchw == sorted(kept_nchw)

    def _reduce(self, n, ins):
        x = self.dynamic(n, ins[0])
        xs = self.shape[x]
        axes = self._axes(n, ins[1], len(xs))
        keep = bool(_attr(n, "keep_dims", False))
        out_shape = tuple(1 if i in axes else d for i, d in enumerate(xs)) if keep else \
            tuple(d for i, d in enumerate(xs) if i not in axes)
        if len(xs) == 4 and n["op"] == "Mean" and axes == [1, 2]:
            # the spatial mean (Keras' GlobalAveragePooling2D): an op convlab's engine runs as one step
            y = self.emit("GlobalAveragePool", [self.value[x]], n["name"] + ("" if keep else "/pool"))
            if not keep:
                y = self.emit("Flatten", [y], n["name"], axis=1)
            return self._set(n, y, out_shape)
        if keep or self._keeps_order(len(xs), axes):
            src, mapped = self.value[x], [(_TF_AXIS_IN_NCHW[a] if len(xs) == 4 else a) for a in axes]
        else:
            src, mapped = self.tf_order(x), axes
        onnx_op = _REDUCE[n["op"]]
        if onnx_op == "ReduceSum":    # from opset 13 its axes are an input, the others' an attribute
            y = self.emit(onnx_op, [src, self.init(np.array(mapped, np.int64), n["name"] + "/axes")], n["name"],
                          keepdims=int(keep))
        else:
            y = self.emit(onnx_op, [src], n["name"], axes=mapped, keepdims=int(keep))
        self._set(n, y, out_shape)

    def _op_Squeeze(self, n, ins):
        x = self.dynamic(n, ins[0])
        xs = self.shape[x]
        dims = _attr(n, "squeeze_dims", []) or _attr(n, "axis", [])
        dims = sorted({d % len(xs) for d in dims}) if dims else [i for i, d in enumerate(xs) if d == 1]
        if any(xs[d] != 1 for d in dims):
            raise TfjsImportError(f"node {n['name']!r} (Squeeze): dimensions {dims} of {list(xs)} are not all 1")
        out_shape = tuple(d for i, d in enumerate(xs) if i not in dims)
        if self._keeps_order(len(xs), dims):
            mapped = [(_TF_AXIS_IN_NCHW[a] if len(xs) == 4 else a) for a in dims]
            src = self.value[x]
        else:
            mapped, src = dims, self.tf_order(x)
        y = self.emit("Squeeze", [src, self.init(np.array(mapped, np.int64), n["name"] + "/axes")], n["name"])
        self._set(n, y, out_shape)

    def _op_Reshape(self, n, ins):
        x = self.dynamic(n, ins[0])
        xs = self.shape[x]
        target = [int(d) for d in np.asarray(self.const_of(n, ins[1], "shape")).reshape(-1)]
        total = math.prod(xs)
        known = math.prod(d for d in target if d != -1)
        if target.count(-1) > 1 or (-1 in target and (known == 0 or total % known)) or \
                (-1 not in target and known != total) or any(d < -1 for d in target):
            raise TfjsImportError(f"node {n['name']!r} (Reshape): cannot reshape {list(xs)} to {target}")
        out_shape = tuple(total // known if d == -1 else d for d in target)
        y = self.emit("Reshape", [self.tf_order(x), self.init(np.array(out_shape, np.int64), n["name"] + "/shape")],
                      n["name"] + ("/nhwc" if len(out_shape) == 4 else ""))
        self._set(n, self.from_tf(y, out_shape, n["name"]) if len(out_shape) == 4 else y, out_shape)

    def _op_ConcatV2(self, n, ins):
        parts, axis_ref = ins[:-1], ins[-1]
        shapes = [self._shape_of(_ref(p)[0]) for p in parts]
        rank = len(shapes[0])
        axis = self._axes(n, axis_ref, rank)[0]
        if any(len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis)
               for s in shapes):
            raise TfjsImportError(f"node {n['name']!r} (ConcatV2): shapes {[list(s) for s in shapes]} do not "
                                  f"concatenate on axis {axis}")
        out_shape = tuple(sum(s[axis] for s in shapes) if i == axis else d for i, d in enumerate(shapes[0]))
        y = self.emit("Concat", [self.operand(_ref(p)[0], rank) for p in parts], n["name"],
                      axis=_TF_AXIS_IN_NCHW[axis] if rank == 4 else axis)
        self._set(n, y, out_shape)

    def _op_Pad(self, n, ins):
        x = self.dynamic(n, ins[0])
        xs = self.shape[x]
        p = np.asarray(self.const_of(n, ins[1], "paddings")).astype(np.int64)
        if p.shape != (len(xs), 2) or (p < 0).any():
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): paddings {p.tolist()} are not "
                                  f"{len(xs)} non-negative pairs")
        value = float(np.asarray(self.const_of(n, ins[2], "constant value")).reshape(-1)[0]) if len(ins) > 2 else 0.0
        order = list(_TO_NCHW) if len(xs) == 4 else list(range(len(xs)))
        pads = [int(p[a, 0]) for a in order] + [int(p[a, 1]) for a in order]
        y = self.emit("Pad", [self.value[x], self.init(np.array(pads, np.int64), n["name"] + "/pads"),
                              self.init(np.array(value, np.float32), n["name"] + "/value")], n["name"])
        self._set(n, y, tuple(d + int(p[i].sum()) for i, d in enumerate(xs)))

    _op_PadV2 = _op_Pad

    def _matmul(self, n, ins, fused_ops: list[str]):
        a = self.dynamic(n, ins[0], 2)
        b = self.const_of(n, ins[1], "second operand")
        ta, tb = bool(_attr(n, "transpose_a", False)), bool(_attr(n, "transpose_b", False))
        if b.ndim != 2:
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): second operand of shape {list(b.shape)}; "
                                  "converted for 2-D matrices")
        b = b.T if tb else b
        rows, k = self.shape[a][::-1] if ta else self.shape[a]
        if b.shape[0] != k:
            raise TfjsImportError(f"node {n['name']!r} ({n['op']}): [{rows}, {k}] x {list(b.shape)} do not multiply")
        # stored (out, in) with transB, a fully connected layer's layout, which converters (pnnx) map to one
        gemm_in = [self.value[a], self.init(np.ascontiguousarray(b.T, np.float32), n["name"] + "/weight")]
        args, ops = ins[2:], list(fused_ops)
        if ops[:1] == ["BiasAdd"]:
            bias = self.const_of(n, args[0], "bias").reshape(-1) if args else None
            if bias is None or bias.shape != (b.shape[1],):
                raise TfjsImportError(f"node {n['name']!r} ({n['op']}): fused BiasAdd needs {b.shape[1]} bias values")
            gemm_in.append(self.init(bias.astype(np.float32), n["name"] + "/bias"))
            ops, args = ops[1:], args[1:]
        y = self.emit("Gemm", gemm_in, n["name"], transA=int(ta), transB=1)
        shape = (rows, b.shape[1])
        self._set(n, self._activations(n, y, shape, ops, args), shape)

    def _op_MatMul(self, n, ins):
        self._matmul(n, ins, [])

    def _op_FusedMatMul(self, n, ins):
        self._matmul(n, ins, _attr(n, "fused_ops", []))


def convert(model_json, *, input_layout: str = "NCHW", batch: int = 1) -> onnx.ModelProto:
    """Read a TF.js graph model (model.json path, shards beside it) and return the equivalent ONNX model
    (opset 13, NCHW inside, fixed batch; see the module docstring for the layout of inputs and outputs)."""
    if input_layout not in ("NCHW", "NHWC"):
        raise TfjsImportError(f"input_layout must be NCHW or NHWC, got {input_layout!r}")
    if not isinstance(batch, int) or batch < 1:
        raise TfjsImportError(f"batch must be a positive int, got {batch!r}")
    path = Path(model_json)
    model = read_model_json(path)
    weights = read_weights(model, path.parent, str(path))
    return _Converter(model, weights, input_layout, batch, str(path)).run()
