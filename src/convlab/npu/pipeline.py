"""Face pipeline stages on the NPU, and how far such a pipeline's faces move from the all-CPU ones.

Placement (`detector=npu:int8 fitter=npu:fp16 extractor=cpu`) swaps a stage's runner of a
face.models.build_pipeline() pipeline for an NpuRunner of the same zoo model; unnamed stages stay
on the CPU runner the pipeline was built with. The agreement metrics are the quantization seed's
task metrics: detection set agreement (IoU-matched, so the overlap of the sets and not only their
sizes), confidence relative error against face size, landmark NME, template cosine and agreement of
same-person decisions between the faces.
"""
from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import onnx

from ..face.compare import cosine
from ..postprocess.iou import iou_reference
from .convert import DTYPES, Options
from .errors import NpuError
from .runner import NpuRunner
from .toolkit import Toolkit

STAGES = ("detector", "fitter", "extractor")


def parse_stages(texts) -> dict[str, str]:
    """["detector=npu:int8", "extractor=cpu"] -> {"detector": "int8"}: the stages to put on the NPU."""
    placed = {}
    for text in texts:
        stage, _, where = text.partition("=")
        kind, _, dtype = where.partition(":")
        if stage not in STAGES:
            raise NpuError(f"--stage {text!r}: unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        if kind == "cpu":
            continue
        if kind != "npu" or dtype not in DTYPES:
            raise NpuError(f"--stage {text!r}: expected {stage}=npu:{'|'.join(DTYPES)} or {stage}=cpu")
        placed[stage] = dtype
    return placed


def place(pipeline, stages: dict[str, str], toolkit: Toolkit, options: Options = Options()) -> dict[str, NpuRunner]:
    """Put the named stages of a zoo pipeline on the NPU (the simulator on a host); returns the runners,
    which the caller closes."""
    from ..face.models import zoo_model
    runners = {}
    try:
        for stage, dtype in stages.items():
            net = getattr(pipeline, stage)
            if net is None:
                raise NpuError(f"this pipeline has no {stage} stage to place on the NPU")
            model, spec = zoo_model(stage)
            path = Path(toolkit.workdir) / f"{stage}.onnx"
            onnx.save(model, str(path))
            spec.save(path.with_suffix(".json"))
            runners[stage] = NpuRunner(path, dataclasses.replace(options, dtype=dtype), toolkit=toolkit)
            net.runner = runners[stage]
    except BaseException:
        for r in runners.values():
            r.close()
        raise
    return runners


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
