"""Putting a pipeline together: which model file and spec each stage uses, and which runner runs it.

With no model given, a stage uses the zoo model of its role, built in memory from a fixed seed
(untrained: the faces such a pipeline "finds" on a photo are arbitrary; what is real is the
runner, its timings and the stage-by-stage agreement between engines).
"""
from __future__ import annotations

import functools

from ..zoo import build_model
from ..zoo.spec import ModelSpec, ModelSpecError
from .pipeline import FacePipeline
from .runners import fingerprint, make_runner
from .specs import ROLES, load_model_spec, stage_spec
from .stages import Detector, Extractor, Fitter

ZOO_SEED = 0
DEFAULT = "zoo"     # the model argument meaning "the zoo model of this role"
NONE = "none"       # the fitter argument meaning "skip the fitter; use the detector's landmarks"


@functools.lru_cache(maxsize=8)
def zoo_model(name: str, seed: int = ZOO_SEED):
    """(onnx.ModelProto, ModelSpec) of a zoo model; cached, as building takes ~0.3 s."""
    zm = build_model(name, seed)
    return zm.model, zm.spec


def resolve(role: str, model, spec=None, seed: int = ZOO_SEED) -> tuple[object, ModelSpec]:
    """A stage's (model, ModelSpec): the zoo model named like the role for None/"zoo", the zoo
    model NAME for "zoo:NAME", else the file and its spec."""
    if model in (None, DEFAULT) or (isinstance(model, str) and model.startswith(DEFAULT + ":")):
        if spec is not None:
            raise ModelSpecError(f"a {role} spec was given with a zoo {role}; zoo models carry their own")
        model, ms = zoo_model(role if model in (None, DEFAULT) else model[len(DEFAULT) + 1:], seed)
    else:
        ms = spec if isinstance(spec, ModelSpec) else load_model_spec(model, spec)
    if ROLES.get(ms.kind) != role:
        raise ModelSpecError(f"{ms.name}: its decoding kind {ms.kind!r} is a "
                             f"{ROLES.get(ms.kind, 'non-face')} model, not a {role}")
    return model, ms


def build_pipeline(detector=None, fitter=None, extractor=None, *, detector_spec=None, fitter_spec=None,
                   extractor_spec=None, runner: str = "onnxruntime", threads: int = 1, engine_options=None,
                   score_threshold: float = 0.5, nms_iou: float = 0.4, top_k: int = 750, max_faces: int = 10,
                   resize: str = "stretch", crop_expand: float = 1.0, blur_threshold: float | None = None,
                   seed: int = ZOO_SEED) -> FacePipeline:
    """A FacePipeline whose three networks all run on `runner` (see runners.RUNNERS).

    Each model is a path (its spec beside it or given), "zoo" / None for the zoo model of the role,
    or "zoo:NAME" for another zoo model. fitter: None uses the zoo fitter unless the detector gives
    its own landmarks (then none is needed); "zoo" forces the zoo fitter; "none" skips it.
    """
    opts = dict(engine_options or {})

    def net(role, model, spec):
        m, ms = resolve(role, model, spec, seed)
        return m, ms, make_runner(runner, m, threads=threads, **opts), stage_spec(ms, resize=resize,
                                                                                  crop_expand=crop_expand)

    _, _, run, spec = net("detector", detector, detector_spec)
    det = Detector(run, spec, score_threshold=score_threshold, nms_iou=nms_iou, top_k=top_k, max_faces=max_faces)
    skip = fitter == NONE or (fitter is None and det.gives_landmarks)
    fit = None if skip else Fitter(*net("fitter", fitter, fitter_spec)[2:])
    m, ms, run, spec = net("extractor", extractor, extractor_spec)
    ext = Extractor(run, spec, fingerprint=f"{ms.name}:{fingerprint(m)}")
    return FacePipeline(det, ext, fit, blur_threshold=blur_threshold)
