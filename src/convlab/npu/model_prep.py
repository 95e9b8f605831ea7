"""Make an ONNX model acceptable to RKNN-Toolkit2 2.5, or say exactly why it cannot be.

The toolkit reads ONNX with its own onnx (<= 1.18) and accepts default-domain opsets up to 19;
convlab's onnx is newer, so models it writes can carry a newer opset or IR version. Those are
re-exported here with onnx's version converter; custom-domain ops, several inputs and dynamic
shapes are refused before the toolkit sees the model.

One rewrite keeps int8 models small: the toolkit (2.5.0) views a Concat of rank-3 (1, N_i, K)
tensors on axis 1 as a concat of 4-D (1, N_i, 1, K) tensors on the channel axis, and in int8 it
requantises the inputs to one scale with an N x N layer stored in the .rknn. The zoo detector's
`conf` concat (N = 4420 priors) alone took 4420^2 bytes: its int8 .rknn was 20,079,086 bytes
against 762,964 in fp16 (log: Concat:concat2 RW 19104 KB). Concatenating (1, 1, N_i, K) views on
axis 2 instead computes the same tensors (bit-identical) with N_i off the channel axis: 474,990
bytes with `loc` and `conf` both moved.

Trained models come as exported, so two more rewrites make them take what the toolkit and
calibration.py feed (one NCHW float32 tensor of pixels):
- old exporters (PyTorch 1.2, opset 9: CenterFace) list every initializer as a graph input too;
  the toolkit would take them for model inputs, so they are dropped from the inputs;
- dimensions the model leaves dynamic (keras2onnx's batch "N") are fixed from the spec's shape, and an
  NHWC model (MTCNN, from Keras) gets an NCHW input with a Transpose to NHWC in front, which cancels
  against the exporter's own NHWC -> NCHW Transpose when it starts the graph with one.
The spec (its input's layout, mean / std and channel order) is the one description of how the model
is fed; for the trained models in convlab.realmodels it is `real_spec(name)`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference, version_converter

from ..zoo.spec import InputSpec, ModelSpec
from .errors import UnsupportedModelError

MAX_OPSET = 19          # "Unsupport onnx opset N, need <= 19" from rknn-toolkit2 2.5.0
MIN_OPSET = 7           # older models are up-converted (the version converter starts at 7)
MAX_IR_VERSION = 10     # onnx 1.18 writes IR 11; 10 covers every opset <= 19 with margin


BUILTIN = "builtin:"    # "builtin:NAME": a trained model of convlab.realmodels, fed as real_spec(NAME) says
LAYOUTS = ("NCHW", "NHWC")


@dataclass
class PreparedModel:
    path: Path                          # the model the toolkit gets
    input: InputSpec                    # name, NCHW shape, mean / std / channel order
    output_names: list[str]
    opset: tuple[int, int]              # (model's, given to the toolkit)
    ir_version: tuple[int, int]
    notes: list[str] = field(default_factory=list)
    source_layout: str = "NCHW"         # the original model's input layout (NHWC ones get a Transpose)


def load(path: str | Path) -> onnx.ModelProto:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model {path} does not exist")
    try:
        return onnx.load(str(path))
    except Exception as e:  # protobuf raises its own DecodeError for non-ONNX files
        raise UnsupportedModelError(f"{path} is not a readable ONNX model: {e}") from None


def real_spec(name: str) -> ModelSpec:
    """How a trained model of convlab.realmodels is fed: its entry's face spec, else the spec written beside
    its cached file at fetch (converted models), else input shape, layout, mean / std and channel order from
    the entry, with the input name from the cached file."""
    from .. import realmodels
    if name not in realmodels.MODELS:
        raise UnsupportedModelError(f"unknown built-in model {name!r}; built-in models: {', '.join(realmodels.MODELS)}")
    m = realmodels.MODELS[name]
    if m.face_spec:
        return ModelSpec.from_dict(m.face_spec, f"{BUILTIN}{name}")
    path = realmodels.path(name)
    beside = find_spec(path, None)
    if beside is not None:
        return beside
    model = load(path)
    inits = {t.name for t in model.graph.initializer}
    input_name = next(i.name for i in model.graph.input if i.name not in inits)
    channels = m.bench_shape[3 if m.layout == "NHWC" else 1]
    shape = (1,) + tuple(m.bench_shape[1:])
    return ModelSpec(name, InputSpec(input_name, shape, m.layout, (m.mean,) * channels, (m.std,) * channels,
                                     m.channel_order or "RGB"), outputs=(), description=m.description)


def resolve(model: str | Path, spec_path: str | Path | None = None) -> tuple[Path, ModelSpec | None]:
    """A model argument -> (ONNX file, its spec or None): "builtin:NAME" is the cached trained model and
    real_spec(NAME); a path takes the explicit spec, else find_spec's."""
    text = str(model)
    if not text.startswith(BUILTIN):
        return Path(model), find_spec(Path(model), spec_path)
    if spec_path is not None:
        raise UnsupportedModelError(f"{text} carries its own spec (convlab.realmodels); give --spec with a model file")
    from .. import realmodels
    name = text[len(BUILTIN):]
    spec = real_spec(name)
    return realmodels.path(name), spec


def find_spec(model_path: Path, spec_path: str | Path | None) -> ModelSpec | None:
    """The explicit spec, else `<model>.json` beside the model (what `convlab zoo export` writes)."""
    if spec_path is not None:
        return ModelSpec.load(spec_path)
    beside = model_path.with_suffix(".json")
    return ModelSpec.load(beside) if beside.is_file() else None


def _dims(value_info) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in value_info.type.tensor_type.shape.dim]


def _graph_input(model: onnx.ModelProto):
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"the NPU path takes models with one input; this one has {len(inputs)}: "
                                    f"{[i.name for i in inputs]}")
    if inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise UnsupportedModelError(f"input {inputs[0].name!r} must be float32")
    return inputs[0]


def _input(model: onnx.ModelProto, spec: ModelSpec | None, notes: list[str]) -> InputSpec:
    """The spec's input (checked against the model), or, with no spec, the model's own fixed NCHW input."""
    inp = _graph_input(model)
    dims = _dims(inp)
    if spec is None:
        if len(dims) != 4 or None in dims:
            raise UnsupportedModelError(f"input {inp.name!r} must have a fixed 4-D NCHW shape, got {dims} "
                                        "(fix the dynamic dimensions when exporting the model, or give a spec "
                                        "whose input shape fixes them)")
        if dims[0] != 1:
            raise UnsupportedModelError(f"input {inp.name!r} has batch {dims[0]}; the NPU path converts batch-1 models")
        notes.append("no model spec: the input is taken as already normalised (mean 0, std 1, RGB)")
        return InputSpec(inp.name, tuple(dims), "NCHW", (0.0,) * dims[1], (1.0,) * dims[1], "RGB")
    s = spec.input
    if s.layout not in LAYOUTS:
        raise UnsupportedModelError(f"spec {spec.name!r} describes an {s.layout} input; the NPU path converts "
                                    f"{' or '.join(LAYOUTS)} models")
    if s.name != inp.name or len(s.shape) != len(dims) or any(d not in (None, e) for d, e in zip(dims, s.shape)):
        raise UnsupportedModelError(f"spec {spec.name!r} says input {s.name!r} {list(s.shape)}, the model has "
                                    f"{inp.name!r} {['?' if d is None else d for d in dims]}")
    if len(s.shape) != 4 or s.shape[0] != 1:
        raise UnsupportedModelError(f"spec {spec.name!r}: the NPU path converts batch-1 4-D inputs, the spec says "
                                    f"{list(s.shape)}")
    if None in dims:
        notes.append(f"dynamic input dimensions fixed from the spec: {list(s.shape)} {s.layout}")
    return s


def _drop_initializer_inputs(model: onnx.ModelProto) -> int:
    inits = {t.name for t in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in inits]
    dropped = len(model.graph.input) - len(keep)
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return dropped


def _feed_nchw(model: onnx.ModelProto, s: InputSpec) -> None:
    """Fix the input to the spec's static shape, as an NCHW tensor; an NHWC model gets a Transpose in front.
    Output shapes are re-inferred, so the batch the exporter left dynamic is 1 there too."""
    inp = _graph_input(model)
    nchw = (1, s.channels, s.height, s.width)
    if s.layout == "NHWC":
        inner = f"{s.name}_nhwc"
        for n in model.graph.node:
            for k, x in enumerate(n.input):
                if x == s.name:
                    n.input[k] = inner
        model.graph.node.insert(0, helper.make_node("Transpose", [s.name], [inner], name=inner, perm=[0, 2, 3, 1]))
    inp.CopyFrom(helper.make_tensor_value_info(s.name, onnx.TensorProto.FLOAT, nchw))
    _cancel_transposes(model)
    for o in model.graph.output:
        o.type.tensor_type.ClearField("shape")
    inferred = {o.name: o for o in shape_inference.infer_shapes(model).graph.output}
    for o in model.graph.output:
        o.CopyFrom(inferred[o.name])


def _cancel_transposes(model: onnx.ModelProto) -> None:
    """Remove Transpose pairs that undo each other (the NHWC input's NCHW -> NHWC and the exporter's
    NHWC -> NCHW right after it), where the tensor between them feeds nothing else."""
    g = model.graph
    outputs = {o.name for o in g.output}
    while True:
        producer = {n.output[0]: n for n in g.node if n.op_type == "Transpose"}
        uses: dict[str, int] = {}
        for n in g.node:
            for x in n.input:
                uses[x] = uses.get(x, 0) + 1
        pair = None
        for second in g.node:
            first = producer.get(second.input[0]) if second.op_type == "Transpose" else None
            if (first is not None and uses[first.output[0]] == 1 and not {first.output[0], second.output[0]} & outputs
                    and _perm(first) is not None and _perm(second) is not None
                    and [_perm(first)[q] for q in _perm(second)] == list(range(len(_perm(second))))):
                pair = first, second
                break
        if pair is None:
            return
        first, second = pair
        for n in g.node:
            for k, x in enumerate(n.input):
                if x == second.output[0]:
                    n.input[k] = first.input[0]
        g.node.remove(first)
        g.node.remove(second)


def _perm(node) -> list[int] | None:
    """A Transpose's permutation; None when it has none (reverse the axes, rank unknown here)."""
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), None)


def prepare(model_path: str | Path, out_dir: Path, spec: ModelSpec | None) -> PreparedModel:
    model_path = Path(model_path)
    model = load(model_path)
    custom = sorted({f"{n.name or n.op_type} ({n.domain}::{n.op_type})" for n in model.graph.node
                     if n.domain not in ("", "ai.onnx")})
    if custom:
        raise UnsupportedModelError(f"{model_path.name}: the NPU cannot run custom-domain ops: {', '.join(custom)}")
    notes: list[str] = []
    spec_input = _input(model, spec, notes)
    dropped = _drop_initializer_inputs(model)
    if dropped:
        notes.append(f"{dropped} initializers listed as graph inputs (an old exporter's habit) dropped from the inputs")
    _feed_nchw(model, spec_input)
    if spec_input.layout == "NHWC":
        notes.append("NHWC input: converted with an NCHW input and a Transpose to NHWC in front (cancelled against "
                     "the exporter's own NHWC -> NCHW Transpose where it starts the graph)")
    inp = InputSpec(spec_input.name, (1, spec_input.channels, spec_input.height, spec_input.width), "NCHW",
                    tuple(spec_input.mean), tuple(spec_input.std), spec_input.channel_order)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise UnsupportedModelError(f"{model_path.name} imports no default-domain opset")
    target = min(max(opset, MIN_OPSET), MAX_OPSET)
    ir = model.ir_version
    if target != opset:
        try:
            model = version_converter.convert_version(model, target)
        except Exception as e:  # the converter raises bare RuntimeErrors for ops it cannot adapt
            raise UnsupportedModelError(f"{model_path.name} uses opset {opset}; the toolkit takes {MIN_OPSET}.."
                                        f"{MAX_OPSET} and onnx's version converter cannot re-export it: {e}") from None
        notes.append(f"re-exported from opset {opset} to {target} (the toolkit takes <= {MAX_OPSET})")
    if model.ir_version > MAX_IR_VERSION:
        # The lowest IR that carries these opsets: every feature the model can use at opset <= 19.
        lowest = helper.find_min_ir_version_for(list(model.opset_import), ignore_unknown=True)
        notes.append(f"IR version {model.ir_version} written as {lowest} (the toolkit's onnx reads <= {MAX_IR_VERSION})")
        model.ir_version = lowest
    moved = _concat_off_channels(model)
    if moved:
        notes.append(f"rank-3 concats on axis 1 done on axis 2 of 4-D views (int8 size, see model_prep): "
                     f"{', '.join(moved)}")
    onnx.checker.check_model(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{model_path.stem}.onnx"
    onnx.save(model, str(path))
    return PreparedModel(path, inp, [o.name for o in model.graph.output], (opset, target), (ir, model.ir_version),
                         notes, spec_input.layout)


def _concat_off_channels(model: onnx.ModelProto) -> list[str]:
    """Rewrite every Concat of fixed-shape (1, N_i, K) tensors on axis 1 as Reshape to (1, 1, N_i, K),
    Concat on axis 2, Reshape back to (1, N, K), in place; returns the names of the concats moved."""
    g = shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim]
              for v in (*g.value_info, *g.input, *g.output)}
    nodes, moved = [], []
    for n in model.graph.node:
        axis = next((a.i for a in n.attribute if a.name == "axis"), None)
        dims = [shapes.get(x, []) for x in (*n.input, n.output[0])]
        if n.op_type != "Concat" or axis not in (1, -2) or not all(len(d) == 3 and d[0] == 1 and all(d)
                                                                   for d in dims):
            nodes.append(n)
            continue
        name = n.name or n.output[0]
        views = []
        for j, (x, d) in enumerate(zip(n.input, dims)):
            model.graph.initializer.append(numpy_helper.from_array(np.array([1, 1, d[1], d[2]], np.int64),
                                                                   f"{name}_4d_shape{j}"))
            views.append(f"{name}_4d_in{j}")
            nodes.append(helper.make_node("Reshape", [x, f"{name}_4d_shape{j}"], [views[-1]], name=views[-1]))
        nodes.append(helper.make_node("Concat", views, [f"{name}_4d"], name=f"{name}_4d", axis=2))
        model.graph.initializer.append(numpy_helper.from_array(np.array(dims[-1], np.int64), f"{name}_3d_shape"))
        nodes.append(helper.make_node("Reshape", [f"{name}_4d", f"{name}_3d_shape"], list(n.output), name=name))
        moved.append(name)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return moved


# Ops the toolkit fuses into the conv before them: their outputs belong to the conv's layer.
_FUSED_AFTER = ("BatchNormalization", "Relu", "PRelu", "LeakyRelu", "Clip", "Sigmoid", "HardSwish")


def layer_macs(model_path: str | Path) -> list[dict]:
    """Conv, ConvTranspose and Gemm layers of a model, heaviest first: name, multiply-accumulates, and the
    tensors of the layer as the toolkit's quantization config names them (its output, and those of the
    BN / activations right after it that it fuses)."""
    model = shape_inference.infer_shapes(load(model_path))
    g = model.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*g.value_info, *g.input, *g.output)}
    weights = {t.name: list(t.dims) for t in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    layers = []
    for n in g.node:
        if n.op_type not in ("Conv", "ConvTranspose", "Gemm") or n.input[1] not in weights:
            continue
        w, out = weights[n.input[1]], shapes.get(n.output[0], [])
        if n.op_type == "ConvTranspose":       # every input element meets Co/groups x kernel weights
            macs = int(np.prod(shapes.get(n.input[0], [0]))) * int(np.prod(w[1:]))
        elif n.op_type == "Conv":
            macs = int(np.prod(out)) * int(np.prod(w[1:]))
        else:
            macs = int(np.prod(out)) * int(np.prod(w)) // max(int(out[-1]) if out else 1, 1)
        tensors, tail = [n.output[0]], n
        while len(consumers.get(tail.output[0], [])) == 1 and consumers[tail.output[0]][0].op_type in _FUSED_AFTER:
            tail = consumers[tail.output[0]][0]
            tensors.append(tail.output[0])
        layers.append({"layer": n.name or n.output[0], "op": n.op_type, "macs": macs, "tensors": tensors})
    return sorted(layers, key=lambda r: -r["macs"])


def heaviest_split(model_path: str | Path, int8_share: float) -> tuple[list[str], list[dict], float]:
    """3DiVi's split: int8 for the heaviest layers that together hold `int8_share` of the model's MACs,
    fp16 for everything else. Returns (every other tensor of the model, for the fp16 list; the int8
    layers; the share of MACs they hold)."""
    layers = layer_macs(model_path)
    total = sum(r["macs"] for r in layers) or 1
    int8, held = [], 0
    for r in layers:
        if held >= int8_share * total:
            break
        int8.append(r)
        held += r["macs"]
    keep = {t for r in int8 for t in r["tensors"]}
    fp16 = [o for n in load(model_path).graph.node for o in n.output if o not in keep]
    return fp16, int8, held / total

