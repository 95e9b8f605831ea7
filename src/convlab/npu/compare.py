"""`convlab npu compare`: the RKNN simulator against convlab's CPU path, on the same inputs.

Per model: the fp32 CPU row is convlab's engine against onnxruntime (the CPU path's own error);
each NPU dtype row is the simulator against convlab's engine. Per output: cosine similarity (the
lowest over the inputs), max and mean absolute error; per dtype the toolkit's per-layer accuracy
analysis (its worst layer in the table, every layer in the JSON). Inputs are generated images
with a different seed from the calibration set: quantization is judged on images it did not see.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from . import accuracy, calibration
from .convert import DTYPES, ModelSession, Options, toolkit_or
from .toolkit import Toolkit

COMPARE_SEED = 7
COLUMNS = ("model", "dtype", "output", "cosine", "max_abs", "mean_abs", "worst_layer", "worst_layer_cos")


def normalise(pixels: np.ndarray, mean, std) -> np.ndarray:
    m = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((pixels - m) / s, dtype=np.float32)


def cpu_outputs(model_path: Path, input_name: str, batch: np.ndarray, backend: str):
    """(convlab engine outputs, onnxruntime outputs): one dict per input image."""
    import onnxruntime as ort

    from ..engine import Model
    engine = Model.load(str(model_path), backend=backend)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3       # old exports' unused initializers would log one warning each
    ort_session = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in ort_session.get_outputs()]
    ours, theirs = [], []
    for x in batch:
        ours.append(engine.run({input_name: x[None]}))
        theirs.append(dict(zip(names, ort_session.run(names, {input_name: x[None]}))))
    return ours, theirs


def _rows(model: str, dtype: str, names: list[str], refs: list[dict], got: list[dict], layers=None) -> list[dict]:
    worst = accuracy.worst_layers(layers, 1) if layers else []
    rows = []
    for name in names:
        errs = [accuracy.output_errors(r[name], g[name]) for r, g in zip(refs, got)]
        rows.append({"model": model, "dtype": dtype, "output": name,
                     "cosine": min(e["cosine"] for e in errs), "max_abs": max(e["max_abs"] for e in errs),
                     "mean_abs": float(np.mean([e["mean_abs"] for e in errs])),
                     "worst_layer": worst[0]["layer"] if worst else None,
                     "worst_layer_cos": worst[0]["single_cos"] if worst else None})
    return rows


def compare_model(session: ModelSession, dtypes, n_inputs: int, backend: str, layers_for=DTYPES) -> dict:
    """One model's rows; the toolkit's per-layer analysis (slow: it dumps every tensor) for `layers_for`."""
    inp, names = session.model.input, session.model.output_names
    pixels = calibration.generated_pixels(n_inputs, inp, COMPARE_SEED)
    files = calibration.write_npy(pixels, session.dir / "inputs", "input")
    cpu, ort_out = cpu_outputs(session.model.path, inp.name, normalise(pixels, inp.mean, inp.std), backend)
    model = session.source.stem
    rows = _rows(model, "fp32 CPU", names, ort_out, cpu)
    details: dict = {}
    from ..progress import bar
    for dtype in bar(sorted(dtypes, key=DTYPES.index), desc=f"{session.source.stem} on the simulator",
                     unit="dtype"):     # int8 before hybrid: hybrid reuses its analysis
        layers, selection = session.hybrid_plan(files[0]) if dtype == "hybrid" else ((), None)
        result = session.build(dtype, fp16_layers=layers, strict_layers=bool(session.options.fp16_layers),
                               inputs=files, analyse=files[0] if dtype in layers_for else None)
        got = [dict(zip(names, (np.load(p) for p in outs))) for outs in result["outputs"]]
        rows += _rows(model, dtype, names, cpu, got, result.get("layers"))
        details[dtype] = {"layers": result.get("layers"), "fp16_layers": result["fp16_layers"],
                          "hybrid_selection": selection, "warnings": result["warnings"]}
    return {"rows": rows, "details": details, "notes": session.model.notes,
            "calibration": session.calibration()[1] if set(dtypes) - {"fp16"} else None}


def compare(models, dtypes=DTYPES, options: Options = Options(), n_inputs: int = 2, backend: str | None = None,
            toolkit: Toolkit | None = None, layers_for=DTYPES) -> dict:
    for d in dtypes:
        if d not in DTYPES:
            raise ValueError(f"unknown dtype {d!r}; choose from {', '.join(DTYPES)}")
    if n_inputs < 1:
        raise ValueError(f"need at least one input image, got {n_inputs}")
    from ..registry import resolve_backend
    backend = resolve_backend(backend)
    report = {"rows": [], "models": {}, "inputs": n_inputs, "dtypes": list(dtypes),
              "cpu": {"engine": f"convlab engine ({backend} backend, 1 thread)", "reference": "onnxruntime"},
              "options": {k: v for k, v in vars(options).items() if k != "dtype"}}
    with toolkit_or(toolkit) as tk:
        report["toolkit"] = tk.info
        for path in models:
            one = compare_model(ModelSession(tk, path, options), dtypes, n_inputs, backend, layers_for)
            report["rows"] += one.pop("rows")
            report["models"][str(Path(path).resolve())] = one
    return report


def table(report: dict) -> str:
    """The rows as a Markdown table."""
    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.6f}" if abs(v) < 10 else f"{v:.4g}"
        return str(v)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in report["rows"]]
    return "\n".join(lines) + "\n"


def write(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """results/<device-id>/npu_compare.json and .md, each atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {**report, "machine": platform.machine(), "platform": platform.platform()}
    js, md = out_dir / "npu_compare.json", out_dir / "npu_compare.md"
    atomic_write(js, json.dumps(report, indent=2) + "\n")
    header = (f"# NPU simulator vs convlab CPU ({report['toolkit']['toolkit']} simulator, {report['inputs']} "
              "generated inputs; cosine = lowest over inputs; fp32 CPU row = convlab engine vs onnxruntime)\n\n")
    atomic_write(md, header + table(report))
    return js, md
