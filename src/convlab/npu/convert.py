"""`convlab npu convert`: ONNX -> .rknn (fp16, int8 or hybrid) plus a JSON report beside it.

Hybrid keeps some layers in fp16 through the toolkit's hybrid quantization (step 1 writes the
quantization config, the chosen layers are marked float16 in it, step 2 builds): the layers named
with --fp16-layer, else by default the layers the toolkit's own proposal marks (step 1 with
proposal=True), or with hybrid_auto="worst" the K layers with the worst single-layer cosine in the
toolkit's accuracy analysis of the plain int8 build, or with hybrid_auto="heaviest" int8 only in the
heaviest layers holding HEAVIEST_INT8_SHARE of the MACs and fp16 elsewhere (3DiVi's shipped split).

Why the proposal is the default (zoo detector, simulator, `loc` output cosine against fp32):
int8 0.9498; worst-3 hybrid no better, since the error of the many int8 layers left accumulates
whichever three are fixed; the toolkit's proposal 0.9992.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..fileio import publish, temp_beside
from . import accuracy, calibration, model_prep
from .errors import NpuError
from .toolkit import Toolkit

DTYPES = ("fp16", "int8", "hybrid")
TARGETS = ("rk3562", "rk3566", "rk3568", "rk3576", "rk3588")
QUANT_ALGOS = ("normal", "mmse", "kl_divergence")
QUANT_METHODS = ("layer", "channel")
HYBRID_AUTO = ("proposal", "worst", "heaviest")
# "heaviest": int8 only in the heaviest layers holding this share of the MACs (3DiVi shipped "only the
# heaviest part of the extractor in int8"), fp16 elsewhere.
HEAVIEST_INT8_SHARE = 0.5
CALIBRATION_SEED = 20240
DEFAULT_CALIBRATION = 8


@dataclass(frozen=True)
class Options:
    dtype: str = "fp16"
    target: str = "rk3568"
    calib: str | int | None = None          # folder or image count; None: DEFAULT_CALIBRATION generated
    quant_algo: str = "normal"
    quant_method: str = "channel"
    fp16_layers: tuple[str, ...] = ()       # hybrid: keep these in fp16
    hybrid_auto: str = "proposal"           # hybrid without fp16_layers: see HYBRID_AUTO
    hybrid_worst: int = 3                   # how many worst int8 layers
    spec: str | None = None                 # model spec file; default <model>.json beside the model

    def __post_init__(self):
        for name, value, allowed in (("dtype", self.dtype, DTYPES), ("target", self.target, TARGETS),
                                     ("quant algorithm", self.quant_algo, QUANT_ALGOS),
                                     ("quant method", self.quant_method, QUANT_METHODS),
                                     ("hybrid selection", self.hybrid_auto, HYBRID_AUTO)):
            if value not in allowed:
                raise NpuError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        if self.hybrid_worst < 1:
            raise NpuError(f"hybrid_worst must be >= 1, got {self.hybrid_worst}")
        if self.fp16_layers and self.dtype != "hybrid":
            raise NpuError("fp16 layers are chosen only for --dtype hybrid")


class ModelSession:
    """One model prepared for the toolkit inside one worker: converted as often as asked, the
    calibration set and the int8 accuracy analysis made once."""

    def __init__(self, toolkit: Toolkit, model_path: str | Path, options: Options):
        self.toolkit, self.options = toolkit, options
        self.source, self.spec = model_prep.resolve(model_path, options.spec)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.source.stem}-", dir=toolkit.workdir))
        self.model = model_prep.prepare(self.source, self.dir, self.spec)
        self._calibration: tuple[Path, dict] | None = None
        self.int8_analysis: list[dict] | None = None

    @property
    def config(self) -> dict:
        inp, o = self.model.input, self.options
        return {"mean_values": [list(inp.mean)], "std_values": [list(inp.std)], "target_platform": o.target,
                "quantized_dtype": "w8a8", "quantized_algorithm": o.quant_algo, "quantized_method": o.quant_method,
                "float_dtype": "float16",
                # Pixels reach the toolkit already in the model's channel order (calibration.py).
                "quant_img_RGB2BGR": False}

    def calibration(self) -> tuple[Path, dict]:
        if self._calibration is None:
            batch, info = calibration.pixels(self.options.calib, self.model.input, DEFAULT_CALIBRATION,
                                             CALIBRATION_SEED)
            self._calibration = (calibration.write_dataset(batch, self.dir / "calib"), info)
        return self._calibration

    def _conversion(self, dtype: str, fp16_layers, strict_layers: bool) -> dict:
        # Hybrid with no layers named is the toolkit's proposal (hybrid_plan's "proposal" names none).
        proposal = dtype == "hybrid" and not fp16_layers
        return {"model": str(self.model.path), "workdir": str(self.dir / dtype), "dtype": dtype,
                "config": self.config, "dataset": str(self.calibration()[0]) if dtype != "fp16" else None,
                "fp16_layers": list(fp16_layers), "strict_layers": strict_layers, "proposal": proposal}

    def build(self, dtype: str, *, fp16_layers=(), strict_layers: bool = True, export: Path | None = None,
              inputs: list[str] = (), analyse: str | None = None) -> dict:
        result = self.toolkit.call("build", **self._conversion(dtype, fp16_layers, strict_layers),
                                   export=None if export is None else str(export), inputs=list(inputs),
                                   analyse=analyse)
        if "analysis" in result:
            result["layers"] = accuracy.parse_analysis(result.pop("analysis"))
            if dtype == "int8":
                self.int8_analysis = result["layers"]
        return result

    def open_simulator(self, dtype: str, fp16_layers=(), strict_layers: bool = True) -> dict:
        """Convert and start the simulator in the worker: {"session": id, "fp16_layers": [...]}."""
        return self.toolkit.call("open", **self._conversion(dtype, fp16_layers, strict_layers))

    def hybrid_plan(self, analyse_input: str | None = None, auto: str | None = None,
                    worst_count: int | None = None) -> tuple[tuple[str, ...], dict]:
        """(layers to keep in fp16, how they were chosen); `auto` and `worst_count` override the options'
        hybrid_auto and hybrid_worst, so one session can try every selection on one int8 analysis."""
        if self.options.fp16_layers:
            return self.options.fp16_layers, {"method": "chosen by the user"}
        auto = auto or self.options.hybrid_auto
        if auto == "proposal":
            return (), {"method": "the toolkit's proposal (hybrid_quantization_step1 proposal=True)"}
        if auto == "heaviest":
            fp16, int8, share = model_prep.heaviest_split(self.model.path, HEAVIEST_INT8_SHARE)
            return tuple(fp16), {"method": f"int8 only in the {len(int8)} heaviest layers ({share:.0%} of the MACs), "
                                           "fp16 everywhere else",
                                 "int8_layers": [r["layer"] for r in int8], "int8_macs_share": share}
        if self.int8_analysis is None:
            first = analyse_input or Path(self.calibration()[0]).read_text().split()[0]
            self.build("int8", analyse=first)
        worst = accuracy.worst_layers(self.int8_analysis, worst_count or self.options.hybrid_worst)
        if not worst:
            raise NpuError(f"{self.source.name}: the int8 accuracy analysis lists no layers to keep in fp16")
        return tuple(r["layer"] for r in worst), {
            "method": f"the {len(worst)} layers with the lowest single-layer cosine in the int8 accuracy analysis",
            "int8_single_cos": {r["layer"]: r["single_cos"] for r in worst}}


@contextlib.contextmanager
def toolkit_or(toolkit: Toolkit | None):
    """Use the caller's worker, or start one for this call."""
    if toolkit is not None:
        yield toolkit
        return
    with Toolkit() as tk:
        yield tk


def default_output(model_path: Path, dtype: str) -> Path:
    return model_path.with_name(f"{model_path.stem}.{dtype}.rknn")


def report_path(rknn_path: Path) -> Path:
    return rknn_path.with_name(rknn_path.name + ".json")


def convert(model_path: str | Path, out: str | Path | None = None, options: Options = Options(),
            toolkit: Toolkit | None = None) -> dict:
    """Write the .rknn and its report (both or neither) and return the report."""
    t0 = time.perf_counter()
    # A built-in model's default output goes to the working directory, not into the model cache.
    out = Path(out) if out else default_output(Path(str(model_path).removeprefix(model_prep.BUILTIN)), options.dtype)
    if not out.parent.is_dir():
        raise NpuError(f"output directory {out.parent} does not exist")
    with toolkit_or(toolkit) as tk:
        session = ModelSession(tk, model_path, options)
        model_path = session.source
        layers, selection = session.hybrid_plan() if options.dtype == "hybrid" else ((), None)
        tmp_rknn = temp_beside(out)
        tmp_report = temp_beside(report_path(out))
        try:
            result = session.build(options.dtype, fp16_layers=layers, strict_layers=bool(options.fp16_layers),
                                   export=tmp_rknn)
            report = {
                "model": str(model_path.resolve()), "model_sha256": _sha256(model_path),
                "output": str(out.resolve()), "rknn_bytes": tmp_rknn.stat().st_size,
                "toolkit": tk.info, "options": asdict(options), "config": session.config,
                "input": {"name": session.model.input.name, "shape": list(session.model.input.shape),
                          "channel_order": session.model.input.channel_order,
                          "layout": "NCHW (data_format='nchw' at inference; the toolkit's default is NHWC)",
                          "model_layout": session.model.source_layout},
                "outputs": session.model.output_names,
                "opset": {"model": session.model.opset[0], "toolkit": session.model.opset[1],
                          "ir_model": session.model.ir_version[0], "ir_toolkit": session.model.ir_version[1]},
                "calibration": session.calibration()[1] if options.dtype != "fp16" else None,
                "fp16_layers": {"fp16": "all", "int8": [], "hybrid": result["fp16_layers"]}[options.dtype],
                "hybrid_selection": selection,
                "notes": session.model.notes + (["--calib ignored: fp16 needs no calibration"]
                                                 if options.dtype == "fp16" and options.calib is not None else []),
                "warnings": result["warnings"],
                "seconds": round(time.perf_counter() - t0, 2),
            }
            tmp_report.write_text(json.dumps(report, indent=2) + "\n")
            publish(tmp_rknn, out)
            try:
                publish(tmp_report, report_path(out))
            except BaseException:
                out.unlink(missing_ok=True)         # never a .rknn without its report
                raise
        finally:
            for tmp in (tmp_rknn, tmp_report):
                tmp.unlink(missing_ok=True)
    return report


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

