"""Stage runners: the one interface every network stage is executed through.

A runner is a callable taking {input name: array} and returning {output name: array}, plus the
`input_names` / `output_names` it exposes, constructed as Runner(model, threads=N) where model is a
path, bytes or onnx.ModelProto. A new engine registers its class in RUNNERS under the name
`--backend` will select it by. The pipeline never knows which engine is behind it,
so the same stage can run on onnxruntime (the reference), on convlab's engine with any kernel
choice, or on the NPU, and the outputs can be compared stage by stage.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np
import onnx

from .errors import ModelSpecError


def model_bytes(model) -> bytes:
    """Serialized ONNX from a path, bytes or ModelProto."""
    if isinstance(model, onnx.ModelProto):
        return model.SerializeToString()
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    path = os.fspath(model)
    with open(path, "rb") as f:
        return f.read()


def fingerprint(model) -> str:
    """A short content hash of a model: templates are comparable only between identical extractors."""
    return hashlib.sha256(model_bytes(model)).hexdigest()[:16]


class OrtRunner:
    """onnxruntime, CPU provider, full graph optimisation, a fixed intra-op thread count."""

    name = "onnxruntime"

    def __init__(self, model, threads: int = 1):
        from ..peers.onnxruntime_conv import ort_session
        try:
            self.session = ort_session(model_bytes(model), threads)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except Exception as e:  # onnxruntime raises its own exception types for bad models
            raise ModelSpecError(f"onnxruntime cannot load the model: {e}") from e
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))


class ConvlabRunner:
    """convlab's own engine (convlab.engine.Model): its graph passes and conv kernels."""

    name = "convlab"

    def __init__(self, model, threads: int = 1, conv: str = "auto", backend: str | None = None, passes="all",
                 overrides=None):
        from ..engine import Model
        # A path goes to Model.load as a path, so its errors name the file (bytes would be "the given bytes").
        src = model if isinstance(model, (onnx.ModelProto, bytes, bytearray)) else os.fspath(model)
        from ..registry import resolve_backend
        self.model = Model.load(src, conv=conv, backend=resolve_backend(backend), threads=threads, passes=passes,
                                overrides=overrides)
        self.input_names = list(self.model.inputs)
        self.output_names = list(self.model.outputs)

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.model.run(feeds)


RUNNERS = {"onnxruntime": OrtRunner, "convlab": ConvlabRunner}


def engine_options(backend: str | None, conv: str = "auto", passes=None) -> tuple[str, dict]:
    """CLI-style choice -> (runner kind, options): a runner of its own (onnxruntime, or any kind
    added to RUNNERS, e.g. an NPU runner), or a convlab kernel backend run by convlab's engine."""
    if backend is None:
        from .. import registry as _registry
        backend = _registry.default_backend()
    if backend in RUNNERS and backend != "convlab":
        if conv != "auto" or passes is not None:
            raise ModelSpecError(f"--conv and --passes choose convlab kernels and passes; "
                                 f"they do not apply to --backend {backend}")
        return backend, {}
    from .. import kernels, registry  # noqa: F401  (importing kernels registers them)
    if backend not in registry.backends():
        others = [k for k in RUNNERS if k != "convlab"]
        raise ModelSpecError(f"unknown backend {backend!r}; known: {', '.join(others + registry.backends())}")
    return "convlab", {"backend": backend, "conv": conv, "passes": "all" if passes is None else passes}


def make_runner(kind: str, model, *, threads: int = 1, **options):
    if kind not in RUNNERS:
        raise ModelSpecError(f"unknown runner {kind!r}; known: {', '.join(RUNNERS)}")
    if options and kind != "convlab":
        raise ModelSpecError(f"the {kind} runner takes no engine options, got {sorted(options)}")
    return RUNNERS[kind](model, threads=threads, **options)
