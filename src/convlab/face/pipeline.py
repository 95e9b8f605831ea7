"""The face pipeline: image -> detector -> (fitter) -> alignment -> extractor -> templates, timed per stage."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from . import budgets
from .blur import laplacian_variance
from .compare import cosine
from .errors import ImageError, ModelSpecError
from .image import load_image
from .stages import Detector, Extractor, Fitter


@dataclass
class Face:
    box: np.ndarray              # (4,) x1, y1, x2, y2 in image pixels
    score: float
    landmarks: np.ndarray        # (5, 2) x, y in image pixels, inside the box
    template: np.ndarray | None = None

    def to_json(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box], "score": round(float(self.score), 5),
                "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks]}


@dataclass
class Result:
    faces: list[Face]
    stages: dict[str, float]                 # milliseconds, wall clock
    image: np.ndarray                        # the RGB image the faces refer to
    sharpness: float | None = None
    # CPU milliseconds of the calling thread per stage: with one thread this is the latency without
    # the time other processes took the core away (a shared machine); not meaningful with threads > 1.
    cpu_stages: dict[str, float] = field(default_factory=dict)
    # Stages run by the RKNN simulator: their times are simulator times, kept out of budget verdicts.
    simulated: tuple[str, ...] = ()

    def budgets(self) -> dict:
        return budgets.verdicts(self.stages, len(self.faces), self.simulated)

    def to_json(self) -> dict:
        doc = {"faces": [f.to_json() for f in self.faces],
               "stages": {k: round(v, 3) for k, v in self.stages.items()},
               "budgets": self.budgets()}
        if self.simulated:
            doc["simulated_stages"] = list(self.simulated)      # their times are RKNN simulator times
        return doc


class BlurryImageError(ImageError):
    """The blur pre-filter rejected the frame."""


class _Timer:
    """Accumulates wall and calling-thread CPU milliseconds per stage name."""

    def __init__(self):
        self.ms: dict[str, float] = {}
        self.cpu_ms: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        w, c = time.perf_counter(), time.thread_time()
        yield
        self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - w) * 1e3
        self.cpu_ms[stage] = self.cpu_ms.get(stage, 0.0) + (time.thread_time() - c) * 1e3


class FacePipeline:
    """detector (+ fitter unless skipped) + extractor; `run` returns faces with templates and stage times.

    Without a fitter the detector's own landmarks are used (CenterFace-style detectors give them).
    blur_threshold: frames whose variance of the Laplacian is below it are rejected before any network runs.
    """

    def __init__(self, detector: Detector, extractor: Extractor, fitter: Fitter | None = None, *,
                 blur_threshold: float | None = None):
        if fitter is None and not detector.gives_landmarks:
            raise ModelSpecError("the detector gives no landmarks, so a fitter is needed")
        self.detector, self.fitter, self.extractor = detector, fitter, extractor
        if blur_threshold is not None and (isinstance(blur_threshold, bool) or
                                           not isinstance(blur_threshold, (int, float, np.floating)) or
                                           not 0 <= blur_threshold < float("inf")):
            # NaN compared false with every sharpness, silently disabling the check (issue 16)
            raise ImageError(f"blur threshold must be a finite number >= 0, got {blur_threshold!r}")
        self.blur_threshold = blur_threshold
        # role -> {"model": ..., "trained": True/False/None}; build_pipeline fills it in
        self.models: dict[str, dict] = {}

    def run(self, image, *, max_faces: int | None = None) -> Result:
        """max_faces: fit and extract only the best this many of the detected faces."""
        t = _Timer()
        with t("load"):
            rgb = load_image(image)
        sharp = None
        if self.blur_threshold is not None:
            with t("blur"):
                sharp = laplacian_variance(rgb)
            if sharp < self.blur_threshold:
                raise BlurryImageError(f"image rejected by the blur pre-filter: variance of the Laplacian "
                                       f"{sharp:.1f} < threshold {self.blur_threshold:g}")
        with t("detector"):
            det = self.detector(rgb)
        n = min(len(det.scores), max_faces or len(det.scores))
        if self.fitter is None:
            landmarks = det.landmarks[:n]
            t.ms["fitter"] = t.cpu_ms["fitter"] = 0.0   # skipped, but listed so every result has the same stages
        else:
            with t("fitter"):
                landmarks = [self.fitter(rgb, box) for box in det.boxes[:n]]
        faces = [Face(det.boxes[i], float(det.scores[i]), landmarks[i]) for i in range(n)]
        for f in faces:
            with t("align"):
                aligned = self.extractor.align(rgb, f.landmarks)
            with t("extractor"):
                f.template = self.extractor(aligned)
        # One comparison per face against the first face: the "compare two templates" half of the budget.
        for f in faces:
            with t("compare"):
                cosine(faces[0].template, f.template)
        return Result(faces, t.ms, rgb, sharp, t.cpu_ms, self.simulated_stages())

    def simulated_stages(self) -> tuple[str, ...]:
        """The stages whose runner is a simulator (an NPU stage on a host)."""
        return tuple(s for s in ("detector", "fitter", "extractor")
                     if getattr(getattr(getattr(self, s, None), "runner", None), "simulated", False))

    def run_repeated(self, image, repeat: int, warmup: bool = True) -> Result:
        """An untimed warm-up run (JIT compilation, caches), then `repeat` timed runs: the last
        result with each stage's median time."""
        from ..progress import bar
        if warmup:
            self.run(image)
        runs = [self.run(image) for _ in bar(range(repeat), desc="runs", unit="run", enable=repeat > 1)]
        res = runs[-1]
        res.stages = {k: float(np.median([r.stages[k] for r in runs])) for k in res.stages}
        res.cpu_stages = {k: float(np.median([r.cpu_stages[k] for r in runs])) for k in res.cpu_stages}
        return res

    def template(self, image) -> tuple[np.ndarray, Result]:
        """The template of the best-scoring face in the image (for verify / enroll / identify)."""
        res = self.run(image, max_faces=1)
        if not res.faces:
            raise ImageError(f"no face found in {image if isinstance(image, str) else 'the image'} "
                             f"(detector threshold {self.detector.score_threshold:g})")
        return res.faces[0].template, res
