"""BatchNormalization statistics measured from a forward pass, so untrained models stay in range.

A BN layer's running mean/variance must describe the activations that reach it, which depend on
every BN before it. The graph is therefore run segment by segment with onnxruntime: the nodes
between two BatchNormalizations form one small model, its outputs are kept, the next BN's
statistics are set from its measured input, and that BN starts the next segment. Every node runs
once, so calibration costs about one forward pass plus one tiny session per BN.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import scipy.ndimage
from onnx import helper, numpy_helper

from .graph import IR_VERSION, OPSET


def generated_images(n: int, height: int, width: int, seed: int | list[int]) -> np.ndarray:
    """n smooth-plus-noise RGB images in [0, 255], (n, 3, H, W) float32.

    Natural images are spatially correlated; pure white noise would calibrate the first layers
    to statistics no photograph has. A bilinearly upsampled coarse grid gives large smooth regions
    and edges, the added noise gives texture.
    """
    rng = np.random.default_rng(seed)
    cell = 16
    coarse = rng.uniform(0, 255, (n, 3, height // cell + 2, width // cell + 2))
    smooth = scipy.ndimage.zoom(coarse, (1, 1, cell, cell), order=1)[:, :, :height, :width]
    img = smooth + rng.normal(0, 20, smooth.shape)
    return np.clip(img, 0, 255).astype(np.float32)


def _run_segment(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray],
                 values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    produced = [o for n in nodes for o in n.output]
    needed = [i for n in nodes for i in n.input if i and i not in produced]
    feeds = {i: values[i] for i in dict.fromkeys(needed) if i not in inits}
    used_inits = [numpy_helper.from_array(inits[i], i) for i in dict.fromkeys(needed) if i in inits]
    graph = helper.make_graph(nodes, "segment",
                              [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                               for k, v in feeds.items()],
                              [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in produced],
                              initializer=used_inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return dict(zip(produced, sess.run(produced, feeds)))


def calibrate_batchnorm(model: onnx.ModelProto, images: np.ndarray) -> dict[str, float]:
    """Set every BatchNormalization's mean/var, in place, from the activations `images` produce.

    `images` is the already normalised network input. Returns the standard deviation of each BN's
    input as measured (useful to see that depth does not explode or vanish before BN).
    """
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    values = {g.input[0].name: images}
    last_use = {}
    for i, node in enumerate(g.node):
        for name in node.input:
            last_use[name] = i
    pre_bn_std: dict[str, float] = {}
    start = 0
    for i, node in enumerate(g.node):
        if node.op_type != "BatchNormalization":
            continue
        if i > start:
            values.update(_run_segment(list(g.node[start:i]), inits, values))
        x = values[node.input[0]].astype(np.float64)
        inits[node.input[3]] = x.mean(axis=(0, 2, 3)).astype(np.float32)
        inits[node.input[4]] = x.var(axis=(0, 2, 3)).astype(np.float32)
        pre_bn_std[node.name] = float(x.std())
        for name in [k for k in values if last_use.get(k, -1) < i]:
            del values[name]
        start = i
    for t in g.initializer:
        if t.name in inits:
            t.CopyFrom(numpy_helper.from_array(inits[t.name], t.name))
    return pre_bn_std


def intermediate_values(model: onnx.ModelProto, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Run `model` on `x` with onnxruntime and return the named intermediate tensors."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    known = {o.name for o in m.graph.output}
    for n in names:
        if n not in known:
            m.graph.output.append(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return dict(zip(names, sess.run(names, {m.graph.input[0].name: x})))
