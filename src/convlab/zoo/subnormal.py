"""Inject float32 subnormal weights into a model's convolutions, and count them.

Trained models often carry many tiny weights that underflow to subnormals (the LINE study found
them slowing its face models); an untrained zoo model has none, so the subnormal study plants a
controlled fraction instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ConvlabError

_TINY = np.finfo(np.float32).tiny     # smallest normal float32


def count_subnormal(a: np.ndarray) -> int:
    a = np.asarray(a, np.float32)
    return int(np.count_nonzero((a != 0) & (np.abs(a) < _TINY)))


@dataclass(frozen=True)
class LayerSubnormals:
    layer: str          # Conv node name
    weights: int        # weight count of the layer
    injected: int       # weights this call replaced
    subnormal: int      # subnormal weights in the layer afterwards


def conv_weight_names(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(conv node name, weight initializer name) for every Conv with a constant weight."""
    inits = {t.name for t in model.graph.initializer}
    return [(n.name, n.input[1]) for n in model.graph.node if n.op_type == "Conv" and n.input[1] in inits]


def check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction <= 1.0:     # also rejects NaN
        raise ConvlabError(f"subnormal fraction must be in [0, 1], got {fraction}")


def inject_subnormals(model: onnx.ModelProto, fraction: float, seed: int | list[int]) -> list[LayerSubnormals]:
    """Replace round(fraction * size) weights of each Conv, chosen uniformly without replacement,
    with random-sign float32 subnormals of random mantissa. Modifies `model` in place."""
    check_fraction(fraction)
    rng = np.random.default_rng(seed)
    by_name = {t.name: t for t in model.graph.initializer}
    report = []
    for layer, wname in conv_weight_names(model):
        w = numpy_helper.to_array(by_name[wname]).astype(np.float32).copy()
        flat = w.reshape(-1)
        n = int(round(fraction * flat.size))
        idx = rng.choice(flat.size, n, replace=False)
        bits = rng.integers(1, 1 << 23, n, dtype=np.uint32) | (rng.integers(0, 2, n, dtype=np.uint32) << 31)
        flat[idx] = bits.view(np.float32)
        by_name[wname].CopyFrom(numpy_helper.from_array(w, wname))
        report.append(LayerSubnormals(layer, flat.size, n, count_subnormal(w)))
    return report


def subnormal_report(model: onnx.ModelProto) -> list[LayerSubnormals]:
    """Subnormal weight count of each Conv of any model (injected = 0)."""
    by_name = {t.name: t for t in model.graph.initializer}
    out = []
    for layer, wname in conv_weight_names(model):
        w = numpy_helper.to_array(by_name[wname])
        out.append(LayerSubnormals(layer, int(w.size), 0, count_subnormal(w)))
    return out
