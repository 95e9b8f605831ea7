"""Every zoo model x backend x pass combination matches onnxruntime on a zoo-style input.

Tolerance: max |convlab - onnxruntime| <= 1e-4 x max |onnxruntime| per output (1e-3 when a
Winograd kernel runs a layer: its transforms lose a few more bits). Measured on this machine the
errors are 1e-7..4e-5 of the output scale. Single image, algo auto: a few seconds in all.
"""
from __future__ import annotations

import numpy as np
import pytest

from convlab import registry, zoo
from convlab.engine import Model

from engine_util import ort_run

BACKENDS = [b for b in ("numba", "c") if any(e.unavailable() is None for e in registry.entries(b))]
PASSES = ["none", "fold_bn", "all"]
_built: dict = {}


def zoo_model(name: str, subnormal_fraction: float = 0.0):
    key = (name, subnormal_fraction)
    if key not in _built:
        zm = zoo.build_model(name, calibration_images=4, subnormal_fraction=subnormal_fraction)
        s = zm.spec.input
        x = zoo.normalise_images(zoo.calibrate.generated_images(1, s.height, s.width, seed=7), zm.spec)
        _built[key] = zm, x, ort_run(zm.model, {zm.model.graph.input[0].name: x})
    return _built[key]


def check(model: Model, x, expected):
    got = model.run({next(iter(model.inputs)): x})
    winograd = any(layer["kernel"].startswith("winograd") for layer in model.layers())
    for name, e in zip(model.outputs, expected):
        err = float(np.abs(got[name] - e).max())
        assert err <= (1e-3 if winograd else 1e-4) * float(np.abs(e).max()), (name, err, float(np.abs(e).max()))


@pytest.mark.parametrize("passes", PASSES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", zoo.DEFAULT_MODELS)
def test_zoo_model_matches_onnxruntime(name, backend, passes):
    zm, x, expected = zoo_model(name)
    m = Model.load(zm.model, backend=backend, passes=passes)
    assert not [layer for layer in m.layers() if layer["note"]], "a layer fell back from the asked backend"
    check(m, x, expected)
    if passes == "all":
        report = {r["pass"]: r["changed"] for r in m.pass_report}
        assert report["fold_bn"] > 0 and report["fuse_activation"] > 0
        assert not any(n.op == "BatchNormalization" for n in m.graph.nodes)
        if backend == BACKENDS[0]:
            # `convlab optimize`'s output: standard ONNX that onnxruntime runs to the same outputs.
            written = ort_run(m.to_onnx(), {zm.model.graph.input[0].name: x})
            for w, e in zip(written, expected):
                assert float(np.abs(w - e).max()) <= 1e-4 * float(np.abs(e).max())


def test_zoo_subnormal_weights_are_flushed_and_outputs_kept():
    zm, x, expected = zoo_model("extractor", subnormal_fraction=0.05)
    backend = BACKENDS[0] if BACKENDS else "numba"
    alone = Model.load(zm.model, backend=backend, passes="flush_subnormals")
    assert alone.pass_report[0]["changed"] == zm.subnormal_count > 0
    check(alone, x, expected)
    # After BN folding scales the weights some injected values are no longer subnormal.
    m = Model.load(zm.model, backend=backend, passes="all")
    flushed = next(r for r in m.pass_report if r["pass"] == "flush_subnormals")
    assert 0 < flushed["changed"] <= zm.subnormal_count
    check(m, x, expected)
