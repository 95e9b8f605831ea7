"""ONNX's own Conv test cases, run through convlab.conv2d for every kernel that supports each case.

Two sources inside the installed onnx package: the node test cases (generated in memory by
onnx.backend.test.case.node; newer onnx wheels no longer ship them as .pb files) and the
pytorch-converted Conv2d models shipped as protobuf under onnx/backend/test/data.
"""
from __future__ import annotations

import glob
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

import convlab
from convlab import registry
from convlab.spec import ConvSpec, resolve_auto_pad

from conv_oracle import error_bound


def _node_cases():
    for case in collect_testcases(None):
        node = case.model.graph.node[0] if case.model and len(case.model.graph.node) == 1 else None
        if node is not None and node.op_type == "Conv":
            inputs, outputs = case.data_sets[0]
            yield pytest.param(node, list(inputs), outputs[0], id=case.name)


def _converted_cases():
    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "pytorch-converted")
    for d in sorted(glob.glob(os.path.join(root, "test_Conv*"))):
        model = onnx.load(os.path.join(d, "model.onnx"))
        convs = [n for n in model.graph.node if n.op_type == "Conv"]
        if len(convs) != 1:
            continue
        inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        data = os.path.join(d, "test_data_set_0")
        feeds = [numpy_helper.to_array(_load(p)) for p in sorted(glob.glob(os.path.join(data, "input_*.pb")))]
        graph_inputs = [i.name for i in model.graph.input if i.name not in inits]
        values = dict(zip(graph_inputs, feeds), **inits)
        node = convs[0]
        args = [values[name] for name in node.input if name]
        expected = numpy_helper.to_array(_load(os.path.join(data, "output_0.pb")))
        yield pytest.param(node, args, expected, id=os.path.basename(d))


def _load(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t


CASES = list(_node_cases()) + list(_converted_cases())
KERNELS = [e for e in registry.entries() if e.algo != "reference"] + [registry.get("reference", "numpy")]


def test_cases_were_found():
    assert len(CASES) >= 10, "the onnx package's Conv cases were not found"


@pytest.mark.parametrize("entry", KERNELS, ids=lambda e: e.name)
@pytest.mark.parametrize("node,inputs,expected", CASES)
def test_onnx_conv_case(entry, node, inputs, expected):
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    x, w = inputs[0].astype(np.float32), inputs[1].astype(np.float32)
    b = inputs[2].astype(np.float32) if len(inputs) > 2 else None
    if x.ndim != 4:
        pytest.skip(f"{x.ndim - 2}-D convolution: convlab is 2-D only")
    kernel = tuple(attrs.get("kernel_shape", w.shape[2:]))
    stride = tuple(attrs.get("strides", (1, 1)))
    dilation = tuple(attrs.get("dilations", (1, 1)))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    pads = resolve_auto_pad(auto_pad, attrs.get("pads"), x.shape[2:], kernel, stride, dilation)
    groups = attrs.get("group", 1)
    spec = ConvSpec.build(x.shape[1], w.shape[0], *kernel, stride=stride, padding=pads, dilation=dilation,
                          groups=groups, has_bias=b is not None)
    violation = entry.constraints.violation(spec)
    if violation:
        pytest.skip(f"{entry.name} does not support it: {violation[0]}: {violation[1]}")
    if entry.unavailable():
        pytest.skip(f"{entry.name}: {entry.unavailable()}")
    y = convlab.conv2d(x, w, b, stride=stride, padding=pads, dilation=dilation, groups=groups,
                       algo=entry.algo, backend=entry.backend)
    assert y.shape == expected.shape
    # The expected outputs were computed in float32 by another implementation: allow both errors.
    tol = 2 * error_bound(x, w, b, spec, max(entry.error_factor, 1.0)) + 1e-6 * np.abs(expected)
    assert (np.abs(y - expected) <= tol).all(), f"max error {np.abs(y - expected).max():.3g}"
