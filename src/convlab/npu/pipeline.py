"""Face pipeline stages on the NPU, and how far such a pipeline's faces move from the all-CPU ones.

Placement (`detector=npu:int8 fitter=npu:fp16 extractor=cpu:c`, as `convlab run --stage` and
`convlab npu pipeline --stage` take it) swaps a stage's runner of a face.models.build_pipeline()
pipeline for an NpuRunner (the simulator) or another CPU engine's runner of the same model; stages
not named, or named `STAGE=cpu`, keep the runner the pipeline was built with. The agreement metrics
are the quantization seed's task metrics: detection set agreement (IoU-matched, so the overlap of
the sets and not only their sizes), confidence relative error against face size, landmark NME,
template cosine and agreement of same-person decisions between the faces.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
from pathlib import Path

import numpy as np
import onnx

from ..face.compare import cosine
from ..face.errors import ModelSpecError
from ..postprocess.iou import iou_reference
from .convert import DTYPES, Options
from .errors import NpuError
from .model_prep import load
from .runner import NpuRunner
from .toolkit import Toolkit

STAGES = ("detector", "fitter", "extractor")


def parse_stages(texts) -> dict[str, tuple[str, str]]:
    """["detector=npu:int8", "extractor=cpu:c", "fitter=cpu"] -> {"detector": ("npu", "int8"),
    "extractor": ("cpu", "c")}: the stages to move (a bare `cpu` keeps the pipeline's runner)."""
    from ..face.runners import engine_options
    placed, seen = {}, set()
    for text in texts:
        stage, _, where = text.partition("=")
        device, _, choice = where.partition(":")
        if stage not in STAGES:
            raise NpuError(f"--stage {text!r}: unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        if stage in seen:
            raise NpuError(f"--stage {text!r}: stage {stage!r} is placed twice")
        seen.add(stage)
        if device == "npu" and choice in DTYPES:
            placed[stage] = ("npu", choice)
        elif device == "cpu" and choice:
            try:
                engine_options(choice)
            except ModelSpecError as e:     # names the known backends
                raise NpuError(f"--stage {text!r}: {e}") from None
            placed[stage] = ("cpu", choice)
        elif where != "cpu":
            raise NpuError(f"--stage {text!r}: expected {stage}=npu:{'|'.join(DTYPES)}, {stage}=cpu "
                           f"(the pipeline's runner) or {stage}=cpu:BACKEND")
    return placed


def swap_runner(pipeline, stage: str, runner) -> None:
    """Run one stage of the pipeline on `runner`, which must expose the same model's inputs and outputs."""
    net = getattr(pipeline, stage)
    if net is None:
        raise NpuError(f"this pipeline has no {stage} stage to place")
    missing = [n for n in (*net.runner.input_names, *net.runner.output_names)
               if n not in (*runner.input_names, *runner.output_names)]
    if missing:
        raise NpuError(f"the {stage} runner {runner.name} lacks the stage model's tensors {missing}")
    net.runner = runner


def _zoo(stage: str):
    from ..face.models import zoo_model
    return zoo_model(stage)


def place(pipeline, stages: dict[str, tuple[str, str]], toolkit: Toolkit | None, options: Options = Options(),
          model_of=_zoo, threads: int = 1) -> dict[str, NpuRunner]:
    """Move the named stages (parse_stages) to the NPU (the simulator on a host) or another CPU engine.
    model_of(stage) -> (ONNX model or path, ModelSpec) is the model the pipeline runs at that stage
    (default: the zoo's). Returns the NPU runners, which the caller closes."""
    from ..face.runners import engine_options, make_runner
    runners = {}
    try:
        for stage, (device, choice) in stages.items():
            if getattr(pipeline, stage) is None:
                raise NpuError(f"this pipeline has no {stage} stage to place")
            model, spec = model_of(stage)
            if device == "cpu":
                kind, opts = engine_options(choice)
                swap_runner(pipeline, stage, make_runner(kind, model, threads=threads, **opts))
                continue
            if toolkit is None:
                raise NpuError(f"--stage {stage}=npu:{choice} needs the RKNN toolkit")
            path = Path(toolkit.workdir) / f"{stage}.onnx"
            onnx.save(model if isinstance(model, onnx.ModelProto) else load(model), str(path))
            spec.save(path.with_suffix(".json"))
            runners[stage] = NpuRunner(path, dataclasses.replace(options, dtype=choice, spec=None), toolkit=toolkit)
            swap_runner(pipeline, stage, runners[stage])
    except BaseException:
        for r in runners.values():
            r.close()
        raise
    return runners


@contextlib.contextmanager
def placed(pipeline, stages: dict[str, tuple[str, str]], options: Options = Options(), model_of=_zoo,
           threads: int = 1):
    """place() for the duration of a with-block: the toolkit's worker is started only when a stage goes
    on the NPU (a missing toolkit is then a ToolkitUnavailableError naming the setup step), and it and
    the NPU runners are closed at the end. Yields the toolkit (None without NPU stages)."""
    on_npu = any(device == "npu" for device, _ in stages.values())
    with Toolkit() if on_npu else contextlib.nullcontext() as tk:
        runners = place(pipeline, stages, tk, options, model_of, threads)
        try:
            yield tk
        finally:
            for r in runners.values():
                r.close()


def match_faces(ref_boxes: np.ndarray, got_boxes: np.ndarray, iou_min: float) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching, highest IoU first: (reference index, other index, IoU)."""
    if len(ref_boxes) == 0 or len(got_boxes) == 0:
        return []
    ious = np.stack([iou_reference(b, got_boxes) for b in ref_boxes])
    pairs, used_r, used_g = [], set(), set()
    for flat in np.argsort(-ious, axis=None):
        i, j = divmod(int(flat), ious.shape[1])
        if ious[i, j] < iou_min:
            break
        if i not in used_r and j not in used_g:
            pairs.append((i, j, float(ious[i, j])))
            used_r.add(i)
            used_g.add(j)
    return pairs


def face_agreement(ref, got, iou_min: float = 0.5, same_threshold: float = 0.5) -> dict:
    """Task-level agreement of two face.pipeline.Results of the same image (ref: the CPU pipeline)."""
    rb = np.array([f.box for f in ref.faces]).reshape(-1, 4)
    gb = np.array([f.box for f in got.faces]).reshape(-1, 4)
    pairs = match_faces(rb, gb, iou_min)
    n = len(ref.faces) + len(got.faces)
    out = {"faces_cpu": len(ref.faces), "faces_npu": len(got.faces), "matched": len(pairs),
           "detection_f1": 1.0 if n == 0 else 2 * len(pairs) / n,
           "mean_iou": float(np.mean([p[2] for p in pairs])) if pairs else None,
           "confidence_rel_error": [], "landmark_nme": None, "template_cosine_min": None,
           "verification_agreement": None}
    if not pairs:
        return out
    nme, cos = [], []
    for i, j, _ in pairs:
        a, b = ref.faces[i], got.faces[j]
        size = float(np.sqrt(max((a.box[2] - a.box[0]) * (a.box[3] - a.box[1]), 1e-12)))
        out["confidence_rel_error"].append({"face_size": round(size, 1),
                                            "rel_error": abs(b.score - a.score) / max(abs(a.score), 1e-12)})
        nme.append(float(np.linalg.norm(b.landmarks - a.landmarks, axis=1).mean() / size))
        if a.template is not None and b.template is not None:
            cos.append(cosine(a.template, b.template))
    out["confidence_rel_error"].sort(key=lambda e: e["face_size"])
    out["landmark_nme"] = float(np.mean(nme))
    if cos:
        out["template_cosine_min"] = float(min(cos))
        # Same-person decisions between every two matched faces, CPU templates against NPU ones.
        decisions = [(cosine(ref.faces[i].template, ref.faces[k].template) >= same_threshold) ==
                     (cosine(got.faces[j].template, got.faces[m].template) >= same_threshold)
                     for (i, j, _), (k, m, _) in itertools.combinations(pairs, 2)]
        out["verification_agreement"] = float(np.mean(decisions)) if decisions else None
    return out
