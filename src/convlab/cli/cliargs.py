"""Options shared by `convlab profile`, `compare` and `optimize`, and the model loading they share."""
from __future__ import annotations

import json

import numpy as np

from ..engine.errors import ModelInputError
from ..engine.loader import read_model
from ..engine.model import Model
from ..engine.passes import PASS_ORDER


def add_model_args(p, kernels: bool = True) -> None:
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=1,3,H,W",
                   help="fix an input's shape (repeatable; NAME= may be left out for a single-input model)")
    p.add_argument("--passes", default="all", help=f"all, none, or a comma list of: {', '.join(PASS_ORDER)}")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    if kernels:
        p.add_argument("--conv", default="auto", help="conv algorithm for every layer: auto, tune (time every "
                                                      "kernel on each layer, keep the fastest), direct, im2col, "
                                                      "winograd_f23, depthwise, ... (see `convlab bench`)")
        p.add_argument("--backend", default=None, help="kernel backend: numba or c (or all, with --conv tune); "
                                                       "default: convlab's default backend, c (numba when the C extension is not built)")
        p.add_argument("--threads", type=int, default=1, help="threads per kernel (default: 1)")
        p.add_argument("--engine", choices=["native", "python"], default=None,
                       help="native: the whole graph in one C call; python: the readable reference executor, "
                            "one Python step per node (default: native when the C extension is built)")
        p.add_argument("--overrides", metavar="FILE", help="JSON/YAML {conv layer name: 'algo[/backend]'}")
        p.add_argument("--decision-table", metavar="FILE",
                       help="decision table algo=auto reads (default: $CONVLAB_DECISION_TABLE if set, else the one shipped "
                        "for this device, results/<device-id>/decision.json of convlab's data)")


def add_input_arg(p) -> None:
    p.add_argument("--input", action="append", default=[], metavar="[NAME=]X.npy",
                   help="input array (default: standard normal, seeded); NAME= for multi-input models. Dims the "
                        "model leaves dynamic (batch included) are taken from the array unless --shape fixes them")


def _graph_inputs(model_path: str) -> dict[str, list]:
    """{input name: [dim value, or None when dynamic]} of the graph's real (non-initializer) inputs."""
    model = read_model(model_path)
    inits = {t.name for t in model.graph.initializer}
    return {i.name: [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                     for d in i.type.tensor_type.shape.dim]
            for i in model.graph.input if i.name not in inits}


def input_arrays(model_path: str, specs: list[str]) -> dict[str, np.ndarray]:
    """--input [NAME=]X.npy texts -> {input name: array}."""
    if not specs:
        return {}
    names = list(_graph_inputs(model_path))
    out = {}
    for spec in specs:
        name, sep, path = spec.rpartition("=")
        if not sep:
            if len(names) != 1:
                raise ModelInputError(f"--input {spec}: the model has inputs {sorted(names)}; write NAME=X.npy")
            name = names[0]
        if name not in names:
            raise ModelInputError(f"--input {spec}: no input named {name!r}; inputs are {sorted(names)}")
        try:
            out[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ModelInputError(f"--input {spec}: cannot read {path}: {e}") from None
    return out


def shapes_from_arrays(model_path: str, shapes: dict, arrays: dict[str, np.ndarray]) -> dict:
    """--shape's shapes plus, for inputs with a dynamic dim that --shape leaves open, the array's shape."""
    declared = _graph_inputs(model_path) if arrays else {}
    shapes = dict(shapes)
    for name, arr in arrays.items():
        dims = declared.get(name)
        if name not in shapes and dims is not None and None in dims:
            shapes[name] = tuple(int(d) for d in arr.shape)
    return shapes


def parse_shapes(model_path: str, specs: list[str]) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for spec in specs:
        name, sep, dims = spec.rpartition("=")
        if not sep:
            model = read_model(model_path)
            inits = {t.name for t in model.graph.initializer}
            inputs = [i.name for i in model.graph.input if i.name not in inits]
            if len(inputs) != 1:
                raise ModelInputError(f"--shape {spec}: the model has inputs {inputs}; write NAME=dims")
            name = inputs[0]
        try:
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise ModelInputError(f"--shape {spec}: dims must be comma-separated integers") from None
    return shapes


def load(args, arrays: dict | None = None, **options) -> Model:
    """The model the command's arguments describe; `options` replace any of Model.load's. `arrays`
    (input_arrays of --input) fix the dims the model leaves dynamic."""
    kw = dict(passes=args.passes)
    if hasattr(args, "conv"):
        if args.threads < 1:
            raise ModelInputError(f"--threads must be >= 1, got {args.threads}")
        from ..registry import resolve_backend
        kw.update(conv=args.conv, backend=resolve_backend(args.backend), threads=args.threads,
                  overrides=args.overrides, engine=args.engine)
    kw.update(options)
    shapes = shapes_from_arrays(args.model, parse_shapes(args.model, args.shape), arrays or {})
    return Model.load(args.model, shapes, **kw)


def write_overrides(path: str, overrides: dict[str, str]) -> None:
    with open(path, "w") as f:
        if path.endswith((".yaml", ".yml")):
            import yaml
            yaml.safe_dump(overrides, f, sort_keys=False)
        else:
            json.dump(overrides, f, indent=1)


def pass_table(report: list[dict]) -> str:
    from tabulate import tabulate
    rows = [[r["pass"], r["changed"], "; ".join(r["details"][:6]) + (" ..." if len(r["details"]) > 6 else "")]
            for r in report]
    return tabulate(rows, headers=["pass", "changed", "what"], disable_numparse=True)


def to_jsonable(obj):
    """JSON-safe copy: numpy scalars to Python numbers, tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.dtype):
        return str(obj)
    return obj
