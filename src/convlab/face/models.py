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
def zoo_model(role: str, seed: int = ZOO_SEED):
    """(onnx.ModelProto, ModelSpec) of the zoo model for a role; cached, as building takes ~0.3 s."""
    zm = build_model(role, seed)
    return zm.model, zm.spec


def resolve(role: str, model, spec=None, seed: int = ZOO_SEED) -> tuple[object, ModelSpec]:
    """A stage's (model, ModelSpec): the zoo's for None/"zoo", else the file and its spec."""
    if model in (None, DEFAULT):
        if spec is not None:
            raise ModelSpecError(f"a {role} spec was given without a {role} model")
        return zoo_model(role, seed)
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

    fitter: None uses the zoo fitter unless a user detector gives its own landmarks (then none
    is needed); "zoo" forces the zoo fitter; "none" skips it.
    """
    opts = dict(engine_options or {})

    def net(role, model, spec):
        m, ms = resolve(role, model, spec, seed)
        return m, ms, make_runner(runner, m, threads=threads, **opts), stage_spec(ms, resize=resize,
                                                                                  crop_expand=crop_expand)

    _, _, run, spec = net("detector", detector, detector_spec)
    det = Detector(run, spec, score_threshold=score_threshold, nms_iou=nms_iou, top_k=top_k, max_faces=max_faces)
    skip = fitter == NONE or (fitter is None and detector not in (None, DEFAULT) and det.gives_landmarks)
    fit = None if skip else Fitter(*net("fitter", fitter, fitter_spec)[2:])
    m, ms, run, spec = net("extractor", extractor, extractor_spec)
    ext = Extractor(run, spec, fingerprint=f"{ms.name}:{fingerprint(m)}")
    return FacePipeline(det, ext, fit, blur_threshold=blur_threshold)
