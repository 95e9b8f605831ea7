"""Make an ONNX model acceptable to RKNN-Toolkit2 2.5, or say exactly why it cannot be.

The toolkit reads ONNX with its own onnx (<= 1.18) and accepts default-domain opsets up to 19;
convlab's onnx is newer, so models it writes can carry a newer opset or IR version. Those are
re-exported here with onnx's version converter; custom-domain ops, several inputs and dynamic
shapes are refused before the toolkit sees the model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import onnx
from onnx import helper, version_converter

from ..zoo.spec import InputSpec, ModelSpec
from .errors import UnsupportedModelError

MAX_OPSET = 19          # "Unsupport onnx opset N, need <= 19" from rknn-toolkit2 2.5.0
MIN_OPSET = 7           # older models are up-converted (the version converter starts at 7)
MAX_IR_VERSION = 10     # onnx 1.18 writes IR 11; 10 covers every opset <= 19 with margin


@dataclass
class PreparedModel:
    path: Path                          # the model the toolkit gets
    input: InputSpec                    # name, NCHW shape, mean / std / channel order
    output_names: list[str]
    opset: tuple[int, int]              # (model's, given to the toolkit)
    ir_version: tuple[int, int]
    notes: list[str] = field(default_factory=list)


def load(path: str | Path) -> onnx.ModelProto:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model {path} does not exist")
    try:
        return onnx.load(str(path))
    except Exception as e:  # protobuf raises its own DecodeError for non-ONNX files
        raise UnsupportedModelError(f"{path} is not a readable ONNX model: {e}") from None


def find_spec(model_path: Path, spec_path: str | Path | None) -> ModelSpec | None:
    """The explicit spec, else `<model>.json` beside the model (what `convlab zoo export` writes)."""
    if spec_path is not None:
        return ModelSpec.load(spec_path)
    beside = model_path.with_suffix(".json")
    return ModelSpec.load(beside) if beside.is_file() else None


def _input(model: onnx.ModelProto, spec: ModelSpec | None, notes: list[str]) -> InputSpec:
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"the NPU path takes models with one input; this one has {len(inputs)}: "
                                    f"{[i.name for i in inputs]}")
    inp = inputs[0]
    if inp.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise UnsupportedModelError(f"input {inp.name!r} must be float32")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
    if len(dims) != 4 or any(d is None or d <= 0 for d in dims):
        raise UnsupportedModelError(f"input {inp.name!r} must have a fixed 4-D NCHW shape, got {dims} "
                                    "(fix the dynamic dimensions when exporting the model)")
    if dims[0] != 1:
        raise UnsupportedModelError(f"input {inp.name!r} has batch {dims[0]}; the NPU path converts batch-1 models")
    if spec is None:
        notes.append("no model spec: the input is taken as already normalised (mean 0, std 1, RGB)")
        return InputSpec(inp.name, tuple(dims), "NCHW", (0.0,) * dims[1], (1.0,) * dims[1], "RGB")
    s = spec.input
    if s.layout != "NCHW":
        raise UnsupportedModelError(f"spec {spec.name!r} describes an {s.layout} input; the NPU path converts "
                                    "NCHW ONNX models (the toolkit's NHWC is handled at run time)")
    if s.name != inp.name or tuple(s.shape) != tuple(dims):
        raise UnsupportedModelError(f"spec {spec.name!r} says input {s.name!r} {list(s.shape)}, the model has "
                                    f"{inp.name!r} {dims}")
    return s


def prepare(model_path: str | Path, out_dir: Path, spec: ModelSpec | None) -> PreparedModel:
    model_path = Path(model_path)
    model = load(model_path)
    custom = sorted({f"{n.name or n.op_type} ({n.domain}::{n.op_type})" for n in model.graph.node
                     if n.domain not in ("", "ai.onnx")})
    if custom:
        raise UnsupportedModelError(f"{model_path.name}: the NPU cannot run custom-domain ops: {', '.join(custom)}")
    notes: list[str] = []
    inp = _input(model, spec, notes)
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
    onnx.checker.check_model(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{model_path.stem}.onnx"
    onnx.save(model, str(path))
    return PreparedModel(path, inp, [o.name for o in model.graph.output], (opset, target), (ir, model.ir_version), notes)
