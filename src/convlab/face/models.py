"""Putting a pipeline together: which model file and spec each stage uses, and which runner runs it.

A stage's model is a file (its spec beside it or given), "builtin:NAME" for a trained model of
convlab.realmodels (cached by `make setup`; its spec is the model's ``face_spec``, or the spec its
fetch wrote beside the cached file), or "zoo" /
"zoo:NAME" / None for a zoo model, built in memory from a fixed seed (untrained: the faces such a
pipeline "finds" on a photo are arbitrary; what is real is the runner, its timings and the
stage-by-stage agreement between engines).

`default_models()` is what the commands use when no model is named: per role, the first real model
of that role in the cache, else the zoo's, with a note saying what is missing and how to get it.
"""
from __future__ import annotations

import functools

from ..zoo import build_model
from ..zoo.spec import ModelSpec, ModelSpecError
from .pipeline import FacePipeline
from .runners import fingerprint, make_runner
from .specs import ROLES, load_model_spec, spec_path_for, stage_spec
from .stages import Detector, Extractor, Fitter

ZOO_SEED = 0
DEFAULT = "zoo"     # the model argument meaning "the zoo model of this role"
NONE = "none"       # the fitter argument meaning "skip the fitter; use the detector's landmarks"
BUILTIN = "builtin:"


@functools.lru_cache(maxsize=8)
def zoo_model(name: str, seed: int = ZOO_SEED):
    """(onnx.ModelProto, ModelSpec) of a zoo model; cached, as building takes ~0.3 s."""
    zm = build_model(name, seed)
    return zm.model, zm.spec


def is_zoo(model) -> bool:
    return model in (None, DEFAULT) or (isinstance(model, str) and model.startswith(DEFAULT + ":"))


def is_builtin(model) -> bool:
    return isinstance(model, str) and model.startswith(BUILTIN)


def _has_spec(m) -> bool:
    """A real model the pipeline can run: its face_spec, or a spec written beside its cached file at fetch."""
    from .. import realmodels
    return m.face_spec is not None or spec_path_for(realmodels.cache_dir() / m.file_name) is not None


def real_models(role: str) -> list[str]:
    """The names of the real models of a role with a face-pipeline spec, in convlab.realmodels' order."""
    from .. import realmodels
    return [m.name for m in realmodels.MODELS.values() if m.role == role and _has_spec(m)]


def builtin_model(role: str, name: str) -> tuple[str, ModelSpec]:
    """(cached .onnx path, ModelSpec) of the real model NAME for a stage; ConvlabError if it is of another
    role, or not in the cache (saying how to fetch it)."""
    from .. import realmodels
    if name not in realmodels.MODELS:
        raise ModelSpecError(f"unknown built-in model {name!r}; built-in {role}s: "
                             f"{', '.join(real_models(role)) or 'none yet'}")
    m = realmodels.MODELS[name]
    if m.role != role or not _has_spec(m):
        what = f"a {m.role} model" if _has_spec(m) else f"not a face-pipeline model ({m.role})"
        raise ModelSpecError(f"built-in model {name!r} is {what}, not a {role}; built-in {role}s: "
                             f"{', '.join(real_models(role)) or 'none yet'}")
    path = realmodels.path(name)
    ms = ModelSpec.from_dict(m.face_spec, f"{BUILTIN}{name}") if m.face_spec is not None else load_model_spec(path)
    return str(path), ms


def resolve(role: str, model, spec=None, seed: int = ZOO_SEED) -> tuple[object, ModelSpec]:
    """A stage's (model, ModelSpec): the zoo model named like the role for None/"zoo", the zoo
    model NAME for "zoo:NAME", the cached real model and its spec for "builtin:NAME", else the file
    and its spec."""
    if is_zoo(model):
        if spec is not None:
            raise ModelSpecError(f"a {role} spec was given with a zoo {role}; zoo models carry their own")
        model, ms = zoo_model(role if model in (None, DEFAULT) else model[len(DEFAULT) + 1:], seed)
    elif is_builtin(model):
        if spec is not None:
            raise ModelSpecError(f"a {role} spec was given with a built-in {role}; built-in models carry their own")
        model, ms = builtin_model(role, model[len(BUILTIN):])
    else:
        ms = spec if isinstance(spec, ModelSpec) else load_model_spec(model, spec)
    if ROLES.get(ms.kind) != role:
        raise ModelSpecError(f"{ms.name}: its decoding kind {ms.kind!r} is a "
                             f"{ROLES.get(ms.kind, 'non-face')} model, not a {role}")
    return model, ms


def default_models() -> tuple[dict[str, str | None], dict[str, str]]:
    """The models the commands use when none is named: {role: model argument} and {role: note} for the
    roles left to the zoo.

    Per role, the first real model of that role whose file is cached ("builtin:NAME"), else the zoo's
    (None), with a note naming what to install. The fitter is built in only with a built-in detector;
    without a cached one, None keeps the detector's own landmarks (CenterFace's), else the zoo fitter.
    MTCNN O-Net's points on CenterFace's box were nearer hand-marked ones than CenterFace's own on 4 of
    5 photographs (mean NME 0.062 vs 0.084, results/real_models/landmarks.md), for about 1 ms a face."""
    from .. import realmodels
    chosen: dict[str, str | None] = {}
    notes = {}
    for role in ("detector", "fitter", "extractor"):
        cached = [n for n in real_models(role) if (realmodels.cache_dir() / realmodels.MODELS[n].file_name).is_file()]
        chosen[role] = BUILTIN + cached[0] if cached else None
        if cached or role == "fitter":
            continue
        names = [m.name for m in realmodels.MODELS.values() if m.role == role]    # fetched or not
        if names:
            notes[role] = (f"note: the trained {role} {', '.join(names)} is not in the cache "
                           f"({realmodels.FETCH_HINT}); using the untrained zoo {role}")
        else:
            notes[role] = f"note: convlab has no trained {role} built in yet; using the untrained zoo {role}"
    if not chosen["detector"]:
        chosen["fitter"] = None
    return chosen, notes


def stale_threshold_note(extractor, spec) -> list[str]:
    """A note when a built-in extractor has a measured threshold its cached spec does not carry yet (a cache
    converted before the threshold was measured): `convlab models fetch` rewrites the spec."""
    from .. import realmodels
    m = realmodels.MODELS.get(extractor[len(BUILTIN):]) if is_builtin(extractor) else None
    if m is None or m.same_threshold is None or spec.same_threshold is not None:
        return []
    return [f"note: the cached spec of {m.name} predates its measured threshold {m.same_threshold:g}; "
            f"{realmodels.FETCH_HINT} to refresh it"]


def describe(role: str, model) -> dict:
    """Which model a stage ran and whether it is trained (None: a user's file, convlab cannot tell)."""
    if is_zoo(model):
        return {"model": model if model not in (None, DEFAULT) else f"zoo:{role}", "trained": False}
    return {"model": str(model), "trained": True if is_builtin(model) else None}


def build_pipeline(detector=None, fitter=None, extractor=None, *, detector_spec=None, fitter_spec=None,
                   extractor_spec=None, runner: str = "onnxruntime", threads: int = 1, engine_options=None,
                   score_threshold: float = 0.5, nms_iou: float = 0.4, top_k: int = 750, max_faces: int = 10,
                   resize: str | None = None, crop_expand: float = 1.0, blur_threshold: float | None = None,
                   seed: int = ZOO_SEED) -> FacePipeline:
    """A FacePipeline whose three networks all run on `runner` (see runners.RUNNERS).

    Each model is a path (its spec beside it or given), "zoo" / None for the zoo model of the role,
    "zoo:NAME" for another zoo model, or "builtin:NAME" for a cached real model. fitter: None uses the
    zoo fitter unless the detector gives its own landmarks (then none is needed); "zoo" forces the zoo
    fitter; "none" skips it. resize None: letterbox for a built-in (trained) detector, which keeps the
    faces' proportions as in training (stretched into 800x480, CenterFace missed 2 of 5 portraits and its
    landmark error doubled, results/real_models/landmarks.md), stretch otherwise. The pipeline's `models`
    says which model each stage ran and whether it is trained.
    """
    if resize is None:
        resize = "letterbox" if is_builtin(detector) else "stretch"
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
    pipe = FacePipeline(det, ext, fit, blur_threshold=blur_threshold)
    det_model = describe("detector", detector)
    pipe.models = {"detector": det_model,
                   "fitter": ({"model": "the detector's own landmarks", "trained": det_model["trained"]} if skip
                              else describe("fitter", fitter)),
                   "extractor": describe("extractor", extractor)}
    return pipe
