"""NpuRunner: one network run through the RKNN simulator, with the face pipeline's runner interface
(`input_names`, `output_names`, `runner(feeds) -> {output name: float32 array}`, as
face.runners.OrtRunner / ConvlabRunner), so a pipeline stage can be placed on the NPU.

Feeds are the normalised float32 tensors a CPU runner of the model takes, in the model's own layout
(NHWC for MTCNN; the converted model is fed NCHW, see model_prep). The converted model carries the
spec's mean / std (as the .rknn deployed on a board does), so the runner turns feeds back into pixels
first; with no spec (mean 0, std 1) that is the identity.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import calibration
from .convert import ModelSession, Options
from .errors import NpuError
from .toolkit import Toolkit


class NpuRunner:
    name = "rknn-simulator"
    # Its times are the RKNN simulator's on this host, not NPU latency: reports label them and keep
    # them out of budget verdicts (face.budgets).
    simulated = True

    def __init__(self, model_path: str | Path, options: Options = Options(), toolkit: Toolkit | None = None):
        self._own = toolkit is None
        self.toolkit = Toolkit() if toolkit is None else toolkit
        try:
            self.session = ModelSession(self.toolkit, model_path, options)
            layers = self.session.hybrid_plan()[0] if options.dtype == "hybrid" else ()
            opened = self.session.open_simulator(options.dtype, layers, strict_layers=bool(options.fp16_layers))
        except BaseException:
            self.close()
            raise
        self._id, self.fp16_layers = opened["session"], opened["fp16_layers"]
        inp = self.session.model.input
        self.input_names, self.output_names = [inp.name], list(self.session.model.output_names)
        self._mean = np.asarray(inp.mean, np.float32).reshape(1, -1, 1, 1)
        self._std = np.asarray(inp.std, np.float32).reshape(1, -1, 1, 1)
        self._nhwc = self.session.model.source_layout == "NHWC"
        n, c, h, w = inp.shape
        self._feed_shape = (n, h, w, c) if self._nhwc else tuple(inp.shape)
        self._calls = 0

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inp = self.session.model.input
        if set(feeds) != {inp.name}:
            raise NpuError(f"the NPU stage takes one feed {inp.name!r}, got {sorted(feeds)}")
        x = np.asarray(feeds[inp.name])
        if x.dtype != np.float32 or x.shape != self._feed_shape:
            raise NpuError(f"feed {inp.name!r} must be float32 {self._feed_shape}, got {x.dtype} {x.shape}")
        if self._nhwc:
            x = x.transpose(0, 3, 1, 2)
        self._calls += 1
        files = calibration.write_npy(x * self._std + self._mean, self.session.dir / "feeds", f"call{self._calls}")
        outs = self.toolkit.call("infer", session=self._id, inputs=files)["outputs"][0]
        return {name: np.load(path) for name, path in zip(self.output_names, outs)}

    def close(self) -> None:
        if getattr(self, "_id", None) is not None:
            self.toolkit.call("close", session=self._id)
            self._id = None
        if self._own:
            self.toolkit.close()

    def __enter__(self) -> "NpuRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
