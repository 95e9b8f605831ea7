"""From a model spec (convlab.zoo.spec.ModelSpec: the JSON/YAML next to an .onnx) to what each stage needs.

The decoding kind fixes the stage: "ssd" and "centerface" are detectors, "landmarks" a fitter,
"embedding" an extractor. Two choices are the pipeline's, not the model's, so they are arguments
here rather than spec keys: how the detector input is resized (stretch, or letterbox keeping the
aspect ratio) and how much the fitter's crop grows the detector box.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np

from ..postprocess import priors_for_spec
from ..zoo.spec import ModelSpec, ModelSpecError
from .heatmap_decode import HeatmapDecoding

ROLES = {"ssd": "detector", "centerface": "detector", "landmarks": "fitter", "embedding": "extractor"}


@dataclass(frozen=True)
class InputSpec:
    name: str
    size: tuple[int, int]                 # H, W
    layout: str = "NCHW"
    channel_order: str = "RGB"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: str = "stretch"               # letterbox keeps the aspect ratio, padding bottom/right


@dataclass(frozen=True)
class SSDSpec:
    boxes: str
    scores: str
    priors: np.ndarray                    # (A, 4) centre-form, normalised (convlab.postprocess.priors)
    variances: tuple[float, float] = (0.1, 0.2)
    scores_are: str = "softmax"           # or "logits": the pipeline applies the softmax
    face_class: int = 1
    landmarks = None                      # the SSD decoding has no landmark output


@dataclass(frozen=True)
class HeatmapSpec:
    heatmap: str
    size: str
    offset: str
    landmarks: str | None = None
    decoding: HeatmapDecoding = field(default_factory=HeatmapDecoding)


@dataclass(frozen=True)
class StageSpec:
    role: str
    input: InputSpec
    output: str | None = None             # fitter / extractor
    decoder: SSDSpec | HeatmapSpec | None = None  # detector
    normalized: bool = True               # fitter: points as fractions of the crop (else crop pixels)
    crop_expand: float = 1.0              # fitter
    point_layout: str = "xy"              # fitter: "xy" pairs or "planar" (all x, then all y)
    transposed: bool = False              # fitter: the network sees the crop transposed (MTCNN)
    same_threshold: float | None = None   # extractor: cosine for "same person" measured for it, if any
    model_name: str = ""


def stage_spec(ms: ModelSpec, *, resize: str = "stretch", crop_expand: float = 1.0) -> StageSpec:
    kind = ms.kind
    if kind not in ROLES:
        raise ModelSpecError(f"{ms.name}: decoding kind {kind!r} is not a face pipeline stage "
                             f"(stages: {', '.join(ROLES)})")
    if ms.input.channels != 3:
        raise ModelSpecError(f"{ms.name}: input has {ms.input.channels} channels; face stages take RGB/BGR images")
    if ms.input.shape[0] != 1:
        raise ModelSpecError(f"{ms.name}: input batch is {ms.input.shape[0]}; the pipeline feeds one image at a time")
    if resize not in ("stretch", "letterbox"):
        raise ModelSpecError(f"detector resize must be stretch or letterbox, got {resize!r}")
    if not crop_expand > 0:
        raise ModelSpecError(f"fitter crop expansion must be positive, got {crop_expand!r}")
    i = ms.input
    inp = InputSpec(i.name, (i.height, i.width), i.layout, i.channel_order, tuple(i.mean), tuple(i.std),
                    resize if ROLES[kind] == "detector" else "stretch")
    d = ms.decoding
    role = ROLES[kind]
    if kind == "ssd":
        dec = SSDSpec(d["loc"], d["conf"], priors_for_spec(ms), tuple(d["variances"]), d["conf_activation"],
                      int(d["face_class"]))
        return StageSpec(role, inp, decoder=dec, model_name=ms.name)
    if kind == "centerface":
        dialect = HeatmapDecoding.centernet() if d.get("dialect") == "centernet" else HeatmapDecoding.centerface()
        dec = HeatmapSpec(d["heatmap"], d["scale"], d["offset"], d.get("landmarks"),
                          replace(dialect, stride=int(d["stride"])))
        return StageSpec(role, inp, decoder=dec, model_name=ms.name)
    if kind == "landmarks" and int(d["num_points"]) != 5:
        raise ModelSpecError(f"{ms.name}: the pipeline aligns on 5 landmarks, this fitter gives {d['num_points']}")
    if kind == "embedding" and d.get("normalize") not in ("l2", None):
        raise ModelSpecError(f"{ms.name}: embedding normalize {d.get('normalize')!r}; the pipeline compares "
                             "L2-normalised templates")
    return StageSpec(role, inp, output=d["output"], normalized=bool(d.get("normalized", True)),
                     crop_expand=crop_expand, point_layout=d.get("point_layout", "xy"),
                     transposed=bool(d.get("transposed", False)), same_threshold=d.get("same_threshold"),
                     model_name=ms.name)


def spec_path_for(model_path) -> str | None:
    """The spec sitting next to a model, X.onnx -> X.json / X.yaml / X.yml, or None."""
    root, _ = os.path.splitext(os.fspath(model_path))
    for ext in (".json", ".yaml", ".yml"):
        if os.path.exists(root + ext):
            return root + ext
    return None


def load_model_spec(model_path, spec_path=None) -> ModelSpec:
    path = spec_path or spec_path_for(model_path)
    if path is None:
        raise ModelSpecError(f"no model spec for {model_path}: put X.json (or .yaml) next to X.onnx or pass "
                             "one explicitly (format: convlab.zoo.spec.ModelSpec)")
    return ModelSpec.load(path)
