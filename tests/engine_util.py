"""Helpers for the engine tests: build small ONNX models, run them in onnxruntime and in convlab."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from convlab.engine import Model


# The IR version that introduced each opset range (onnxruntime rejects a newer opset on an older IR).
_IR_FOR_OPSET = [(9, 4), (10, 5), (11, 6), (14, 7), (18, 8), (20, 9), (21, 10)]


def make_model(nodes, inputs: dict, outputs, inits: dict | None = None, opset: int = 17,
               ir_version: int | None = None, out_types: dict | None = None) -> onnx.ModelProto:
    """inputs: {name: array or shape}; outputs: names (float32 unless out_types says otherwise)."""
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype) if isinstance(v, np.ndarray)
                                         else TensorProto.FLOAT, list(np.shape(v) if isinstance(v, np.ndarray) else v))
           for n, v in inputs.items()]
    outs = [helper.make_tensor_value_info(o, (out_types or {}).get(o, TensorProto.FLOAT), None) for o in outputs]
    init = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    g = helper.make_graph(nodes, "test", ins, outs, init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir_version or next(ir for top, ir in _IR_FOR_OPSET if opset <= top)
    return m


def ort_run(model: onnx.ModelProto, feeds: dict, optimize: bool = False) -> list[np.ndarray]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    if not optimize:
        # So the reference is the graph as written, not onnxruntime's own rewrite of it.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def assert_matches_ort(model, feeds, rtol=1e-4, atol=1e-5, passes="all", **load_kw):
    """convlab's outputs for `model` equal onnxruntime's within rtol/atol (relative to the output scale)."""
    expected = ort_run(model, feeds)
    m = Model.load(model.SerializeToString(), passes=passes, **load_kw)
    got = m.run(feeds)
    for name, e in zip(m.outputs, expected):
        g = got[name]
        assert g.shape == e.shape, (name, g.shape, e.shape)
        assert g.dtype == e.dtype, (name, g.dtype, e.dtype)
        if np.issubdtype(e.dtype, np.floating):
            scale = max(1.0, float(np.abs(e).max()) if e.size else 1.0)
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol * scale, err_msg=name)
        else:
            np.testing.assert_array_equal(g, e, err_msg=name)
    return m


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
