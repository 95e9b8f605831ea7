"""`convlab npu bench`: latency of .rknn models on an RK3568's NPU through rknn-toolkit-lite2, next
to convlab's engine on the same board's CPU when the .onnx is beside the .rknn.

Per model: the median NPU latency of the bare network. Per pipeline stage: the face pipeline on an
image twice, once all on convlab's CPU kernels and once with every stage that has a .rknn (named
`detector.*.rknn`, `fitter.*.rknn`, `extractor.*.rknn`) on the NPU through LiteRunner; per stage
(load, detector, fitter, align, extractor, compare) the median over the repeats after a warm-up,
one face, checked against the seed's per-face budgets (detector + fitter <= 40 ms, extraction +
comparison <= 500 ms) as face.budgets computes them. The pipeline needs each NPU stage's .onnx and
its spec .json beside the .rknn (the decoding is in the spec); stages without a .rknn run the zoo
model on the CPU in both pipelines.

It runs only where it can mean something: an aarch64 machine, the rknnlite module, and the NPU
device node. Anywhere else it says which of those is missing and refuses.
"""
from __future__ import annotations

import glob
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from .convert import report_path
from .errors import BoardUnavailableError, NpuError

# The seed study's budgets on the RK3568 (3DiVi): detector + fitter, and template extraction.
BUDGETS_MS = {("detector", "fitter"): 40.0, ("extractor",): 500.0}
BENCH_SEED = 11
STAGES = ("detector", "fitter", "extractor")
PIPELINE_IMAGE = "builtin:astronaut"


def _npu_device() -> str | None:
    """The RKNPU device node: /dev/rknpu (older drivers) or the DRM render node the rknpu driver owns."""
    if Path("/dev/rknpu").exists():
        return "/dev/rknpu"
    for compatible in glob.glob("/sys/class/drm/renderD*/device/of_node/compatible"):
        if b"rknpu" in Path(compatible).read_bytes():
            return "/dev/dri/" + Path(compatible).parts[4]
    return None


def problems() -> list[str]:
    """Why the NPU cannot be benchmarked here (empty on a usable board)."""
    reasons = []
    if platform.machine() != "aarch64":
        reasons.append(f"not an aarch64 board (this machine is {platform.machine()})")
    try:
        import rknnlite.api  # noqa: F401
    except ImportError:
        reasons.append("no rknnlite module (install rknn-toolkit-lite2 on the board: pip install 'convlab[board]')")
    if _npu_device() is None:
        reasons.append("no NPU device (neither /dev/rknpu nor a DRM render node of the rknpu driver)")
    return reasons


def _conversion(rknn_path: Path) -> tuple[dict, Path | None]:
    """The convert report, and the source .onnx if it is beside the .rknn."""
    report = report_path(rknn_path)
    if not report.is_file():
        raise NpuError(f"{report} is missing: bench reads the input shape from the report `convlab npu convert` "
                       "writes beside each .rknn (copy both to the board)")
    data = json.loads(report.read_text())
    onnx = rknn_path.with_name(Path(data["model"]).name)
    return data, onnx if onnx.is_file() else None


def _median_ms(run, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


class LiteRunner:
    """A .rknn on the board's NPU with the face runners' interface (`input_names`, `output_names`,
    `runner(feeds)`; feeds are normalised NCHW float32, turned back into pixels for the model, which
    carries mean / std), so a face pipeline stage can run on the real NPU as NpuRunner does in the
    simulator."""

    name = "rknn-lite"

    def __init__(self, rknn_path: str | Path):
        from rknnlite.api import RKNNLite
        self.path = Path(rknn_path)
        self.report, self.onnx_path = _conversion(self.path)
        self.input_names = [self.report["input"]["name"]]
        self.output_names = list(self.report["outputs"])
        self.mean, self.std = (np.asarray(self.report["config"][k][0], np.float32).reshape(1, -1, 1, 1)
                               for k in ("mean_values", "std_values"))
        self.lite = RKNNLite(verbose=False)
        if self.lite.load_rknn(str(self.path)) != 0 or self.lite.init_runtime() != 0:
            self.lite.release()
            raise NpuError(f"rknn-toolkit-lite2 cannot load {self.path} (converted for another target or toolkit?)")

    def infer_pixels(self, pixels: np.ndarray) -> list[np.ndarray]:
        return self.lite.inference(inputs=[pixels], data_format="nchw")

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pixels = np.asarray(feeds[self.input_names[0]], np.float32) * self.std + self.mean
        return dict(zip(self.output_names, self.infer_pixels(pixels)))

    def close(self) -> None:
        self.lite.release()


def bench_model(rknn_path: Path, repeats: int, warmup: int, cpu_backend: str = "c", threads: int = 1) -> dict:
    runner = LiteRunner(rknn_path)
    x = np.random.default_rng(BENCH_SEED).uniform(0, 255, runner.report["input"]["shape"]).astype(np.float32)
    try:
        npu_ms = _median_ms(lambda: runner.infer_pixels(x), repeats, warmup)
    finally:
        runner.close()
    row = {"model": rknn_path.name, "npu_ms": npu_ms, "cpu_ms": None, "cpu_backend": cpu_backend,
           "repeats": repeats}
    if runner.onnx_path is not None:
        from ..face.runners import engine_options, make_runner
        kind, opts = engine_options(cpu_backend)
        cpu = make_runner(kind, runner.onnx_path, threads=threads, **opts)
        feed = {runner.input_names[0]: np.ascontiguousarray((x - runner.mean) / runner.std)}
        row["cpu_ms"] = _median_ms(lambda: cpu(feed), max(3, repeats // 10), 1)
    return row


def _stage(rknn_path: Path) -> str | None:
    """The pipeline stage a .rknn is for, from its name (detector.int8.rknn -> detector)."""
    return next((s for s in STAGES if rknn_path.name.startswith(s + ".")), None)


def budgets(rows: list[dict]) -> list[dict]:
    """Sum the stages of each budget whose models were all benchmarked (matched by name prefix)."""
    out = []
    for stages, limit in BUDGETS_MS.items():
        found = [next((r for r in rows if _stage(Path(r["model"])) == s), None) for s in stages]
        if all(found):
            total = sum(r["npu_ms"] for r in found)
            out.append({"stages": list(stages), "npu_ms": total, "budget_ms": limit, "within": total <= limit})
    return out


def _stage_model(rknn_path: Path) -> Path:
    """The .onnx a stage's .rknn was converted from, beside it with its spec (the pipeline decodes by it)."""
    _, onnx = _conversion(rknn_path)
    if onnx is None or not onnx.with_suffix(".json").is_file():
        raise NpuError(f"the face pipeline needs the model {rknn_path} was converted from and its spec beside it "
                       f"(MODEL.onnx and MODEL.json from `convlab zoo export`); copy them to the board")
    return onnx


def bench_pipeline(stage_rknns: dict[str, Path], image, repeats: int, warmup: int, cpu_backend: str = "c",
                   threads: int = 1) -> dict:
    """Per-stage medians of the face pipeline all on convlab's CPU kernels and with the given stages on
    the NPU, with the seed's budget verdicts for each."""
    from ..face.models import build_pipeline
    from ..face.runners import engine_options
    from .pipeline import swap_runner
    models = {stage: str(_stage_model(path)) for stage, path in stage_rknns.items()}
    kind, opts = engine_options(cpu_backend)

    def pipeline():
        return build_pipeline(models.get("detector"), models.get("fitter"), models.get("extractor"), runner=kind,
                              engine_options=opts, threads=threads, max_faces=1)

    cpu, npu = pipeline(), pipeline()
    runners = []
    try:
        for stage, path in stage_rknns.items():
            runners.append(LiteRunner(path))
            swap_runner(npu, stage, runners[-1])
        out = {"image": str(image), "cpu_backend": cpu_backend, "threads": threads,
               "npu_stages": {s: p.name for s, p in stage_rknns.items()}}
        for name, pipe in (("cpu", cpu), ("npu", npu)):
            for _ in range(max(warmup - 1, 0)):
                pipe.run(image)
            res = pipe.run_repeated(image, repeats, warmup=warmup > 0)
            verdicts = res.budgets()
            verdicts["machine"] = f"this board ({platform.machine()}, NPU {_npu_device()})"
            out[name] = {"stages_ms": res.stages, "faces": len(res.faces), "budgets": verdicts}
    finally:
        for r in runners:
            r.close()
    return out


def bench(rknn_paths, repeats: int = 50, warmup: int = 5, image=PIPELINE_IMAGE, cpu_backend: str = "c",
          threads: int = 1) -> dict:
    """Per model, and per pipeline stage on `image` when a .rknn is named for a stage (image None: per
    model only)."""
    reasons = problems()
    if reasons:
        raise BoardUnavailableError("convlab npu bench runs on an RK3568 board only: " + "; ".join(reasons))
    paths = [Path(p) for p in rknn_paths]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist")
    stage_rknns = {}
    for p in paths:
        stage = _stage(p)
        if stage in stage_rknns:
            raise NpuError(f"two .rknn files for the {stage} stage: {stage_rknns[stage].name} and {p.name}")
        if stage is not None:
            stage_rknns[stage] = p
    pipeline = (bench_pipeline(stage_rknns, image, repeats, warmup, cpu_backend, threads)
                if stage_rknns and image is not None else None)
    rows = [bench_model(p, repeats, warmup, cpu_backend, threads) for p in paths]
    return {"rows": rows, "budgets": budgets(rows), "pipeline": pipeline, "npu_device": _npu_device(),
            "platform": platform.platform(),
            "note": "median over repeats after warm-up; NPU input is pixels, CPU is convlab's engine; "
                    "pipeline: per-stage medians, one face, NPU stages through rknn-toolkit-lite2"}
