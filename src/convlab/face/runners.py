"""Stage runners: the one interface every network stage is executed through.

A runner is a callable taking {input name: array} and returning {output name: array}, plus the
`input_names` / `output_names` it exposes. The pipeline never knows which engine is behind it,
so the same stage can run on onnxruntime (the reference), on convlab's engine with any kernel
choice, or on the NPU, and the outputs can be compared stage by stage.
"""
from __future__ import annotations

import os

import numpy as np
import onnx

from ..errors import ConvlabError
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


class OrtRunner:
    """onnxruntime, CPU provider, full graph optimisation, a fixed intra-op thread count."""

    name = "onnxruntime"

    def __init__(self, model, threads: int = 1):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(model_bytes(model), so, providers=["CPUExecutionProvider"])
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except Exception as e:  # onnxruntime raises its own exception types for bad models
            raise ModelSpecError(f"onnxruntime cannot load the model: {e}") from e
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))


RUNNERS = {"onnxruntime": OrtRunner}


def make_runner(kind: str, model, *, threads: int = 1, **options):
    if kind not in RUNNERS:
        raise ModelSpecError(f"unknown runner {kind!r}; known: {', '.join(RUNNERS)}")
    if options and kind == "onnxruntime":
        raise ModelSpecError(f"the onnxruntime runner takes no engine options, got {sorted(options)}")
    return RUNNERS[kind](model, threads=threads, **options)
