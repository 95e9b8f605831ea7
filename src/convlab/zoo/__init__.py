"""Model zoo: real architectures built as ONNX with seeded weights, no training, no downloads.

Each model is built with `onnx.helper`, He-initialised, and its BatchNormalization statistics are
measured from a forward pass over generated images (`calibrate.py`), so activations keep a sane
scale through the whole depth and the BN nodes stay in the graph for the folding pass. Nothing
is trained: outputs are meaningless but well scaled, which is all latency and numerical-accuracy
work needs. Each model comes with a `ModelSpec` (spec.py) saying how to feed and decode it.
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx

from ..errors import ConvlabError
from . import face_detector, face_extractor, face_faceboxes, face_fitter, mobilenet_v1, mobilenet_v2
from .calibrate import calibrate_batchnorm, generated_images
from ..fileio import atomic_write
from .spec import ModelSpec
from .stats import ModelStats, model_stats
from .subnormal import LayerSubnormals, check_fraction, inject_subnormals

MODELS: dict[str, Callable] = {
    "mobilenet_v1": mobilenet_v1.build,
    "mobilenet_v2": mobilenet_v2.build,
    "detector": face_detector.build,
    "fitter": face_fitter.build,
    "extractor": face_extractor.build,
    "fitter68": lambda seed: face_fitter.build(seed, num_points=68),
    "faceboxes": face_faceboxes.build,
}
DEFAULT_MODELS = ["mobilenet_v1", "mobilenet_v2", "detector", "fitter", "extractor"]
CALIBRATION_IMAGES = 16


@dataclass
class ZooModel:
    name: str
    model: onnx.ModelProto
    spec: ModelSpec
    stats: ModelStats
    build_seconds: float
    pre_bn_std: dict[str, float]            # std of each BN's input during calibration
    subnormals: list[LayerSubnormals] = field(default_factory=list)

    @property
    def subnormal_count(self) -> int:
        return sum(s.subnormal for s in self.subnormals)


def normalise_images(images: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Pixels (N, 3, H, W) in [0, 255], RGB -> the network input the spec describes (NCHW)."""
    if spec.input.channel_order == "BGR":
        images = images[:, ::-1]
    mean = np.array(spec.input.mean, np.float32).reshape(1, -1, 1, 1)
    std = np.array(spec.input.std, np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((images - mean) / std, dtype=np.float32)


def build_model(name: str, seed: int = 0, subnormal_fraction: float = 0.0,
                calibration_images: int = CALIBRATION_IMAGES) -> ZooModel:
    """Build, calibrate and check one zoo model. Same (name, seed, fraction) -> identical bytes."""
    if name not in MODELS:
        raise ConvlabError(f"unknown zoo model {name!r}; available: {', '.join(MODELS)}")
    check_fraction(subnormal_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ConvlabError(f"seed must be an integer from 0 to 2**63-1, got {seed!r} (NumPy seeds are non-negative)")
    t0 = time.perf_counter()
    # Each model draws from its own stream so adding a model never changes another's weights.
    stream = [int(seed), zlib.crc32(name.encode())]
    model, spec = MODELS[name](stream)
    images = generated_images(calibration_images, spec.input.height, spec.input.width, seed=stream)
    pre_bn_std = calibrate_batchnorm(model, normalise_images(images, spec))
    subnormals = inject_subnormals(model, subnormal_fraction, seed=stream + [1]) if subnormal_fraction else []
    onnx.checker.check_model(model, full_check=True)
    return ZooModel(name, model, spec, model_stats(model), time.perf_counter() - t0, pre_bn_std, subnormals)


def export_model(zm: ZooModel, directory: str | Path) -> tuple[Path, Path]:
    """Write DIR/<name>.onnx and DIR/<name>.json, each atomically."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConvlabError(f"{directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    onnx_path, spec_path = directory / f"{zm.name}.onnx", directory / f"{zm.name}.json"
    atomic_write(onnx_path, zm.model.SerializeToString())
    spec = ModelSpec(**{**zm.spec.__dict__, "onnx": onnx_path.name})
    spec.save(spec_path)
    return onnx_path, spec_path
