"""A corpus of small ONNX models that are invalid (or odd) in one way each, built with onnx.helper.

Each entry is ``name -> (model, feeds)``; the node at fault is always named ``bad`` so a test can
check that an error message names it. test_invalid_models.py runs every model in onnxruntime and in
convlab: what onnxruntime refuses, convlab must refuse at load with a ConvlabError naming the node.
The cases are the ones issue 16's hostile-user campaign found running anyway in convlab.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_IR = {11: 6, 13: 7, 17: 8, 18: 8, 21: 10}


def _model(nodes, inputs: dict, outputs: list[str], inits: dict | None = None, opset: int = 17,
           raw_inits: list | None = None):
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
    init = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()] + list(raw_inits or [])
    g = helper.make_graph(nodes, "invalid", ins, outs, init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = _IR[opset]
    return m


def _w(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _feeds(**shapes):
    return {k: _w(*s, seed=1) for k, s in shapes.items()}


def _node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, name="bad", **attrs)


def _str_attr(node, name, value: str):
    node.attribute.append(helper.make_attribute(name, value))   # a STRING attribute where ints are expected
    return node


def _conv_t(x_shape, w_shape, **attrs):
    return (_model([_node("ConvTranspose", ["x", "w"], ["y"], **attrs)], {"x": x_shape}, ["y"], {"w": _w(*w_shape)}),
            _feeds(x=x_shape))


def _pool(op, x_shape, **attrs):
    return _model([_node(op, ["x"], ["y"], **attrs)], {"x": x_shape}, ["y"]), _feeds(x=x_shape)


def _conv(x_shape, w_shape, n_in=2, n_out=1, opset=17, **attrs):
    inits = {"w": _w(*w_shape), "b": _w(w_shape[0]), "extra": _w(w_shape[0])}
    names = ["x", "w", "b", "extra"][:n_in]
    outs = ["y", "y2"][:n_out]
    return (_model([_node("Conv", names, outs, **attrs)], {"x": x_shape}, outs,
                   {k: v for k, v in inits.items() if k in names}, opset), _feeds(x=x_shape))


def _resize(scales):
    m = _model([_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")], {"x": (1, 1, 4, 4)}, ["y"],
               {"scales": np.array(scales, np.float32)})
    return m, _feeds(x=(1, 1, 4, 4))


def _negative_dims_initializer():
    t = numpy_helper.from_array(_w(2, 1, 3, 3), "w")
    t.dims[:] = [-2, 1, 3, 3]
    m = _model([_node("Conv", ["x", "w"], ["y"])], {"x": (1, 1, 5, 5)}, ["y"], raw_inits=[t])
    return m, _feeds(x=(1, 1, 5, 5))


def _string_strides():
    n = _node("Conv", ["x", "w"], ["y"])
    _str_attr(n, "strides", "2")
    return _model([n], {"x": (1, 1, 5, 5)}, ["y"], {"w": _w(2, 1, 3, 3)}), _feeds(x=(1, 1, 5, 5))


def _string_group():
    n = _node("Conv", ["x", "w"], ["y"])
    _str_attr(n, "group", "1")
    return _model([n], {"x": (1, 1, 5, 5)}, ["y"], {"w": _w(2, 1, 3, 3)}), _feeds(x=(1, 1, 5, 5))


def _string_flatten_axis():
    n = _node("Flatten", ["x"], ["y"])
    _str_attr(n, "axis", "1")
    return _model([n], {"x": (1, 2, 3, 3)}, ["y"]), _feeds(x=(1, 2, 3, 3))


def _float_pool_kernel():
    n = _node("MaxPool", ["x"], ["y"])
    n.attribute.append(helper.make_attribute("kernel_shape", [2.0, 2.0]))
    return _model([n], {"x": (1, 1, 4, 4)}, ["y"]), _feeds(x=(1, 1, 4, 4))


def _split(sizes, dim=5):
    m = _model([_node("Split", ["x", "split"], ["a", "b"], axis=1)], {"x": (1, dim, 2, 2)}, ["a", "b"],
               {"split": np.array(sizes, np.int64)})
    return m, _feeds(x=(1, dim, 2, 2))


def _pad(pads, mode="constant"):
    m = _model([_node("Pad", ["x", "pads"], ["y"], mode=mode)], {"x": (1, 1, 3, 3)}, ["y"],
               {"pads": np.array(pads, np.int64)})
    return m, _feeds(x=(1, 1, 3, 3))


def _flatten(axis):
    return _model([_node("Flatten", ["x"], ["y"], axis=axis)], {"x": (1, 2, 3, 3)}, ["y"]), _feeds(x=(1, 2, 3, 3))


CASES = {
    "convtranspose group not dividing channels": lambda: _conv_t((1, 3, 4, 4), (3, 2, 3, 3), group=2),
    "convtranspose strides 0": lambda: _conv_t((1, 2, 4, 4), (2, 2, 3, 3), strides=[0, 0]),
    "convtranspose output_padding >= stride": lambda: _conv_t((1, 2, 4, 4), (2, 2, 3, 3), strides=[1, 1],
                                                            output_padding=[2, 2]),
    "convtranspose negative pads": lambda: _conv_t((1, 2, 4, 4), (2, 2, 3, 3), pads=[-1, -1, -1, -1]),
    "convtranspose kernel_shape disagrees": lambda: _conv_t((1, 2, 4, 4), (2, 2, 3, 3), kernel_shape=[5, 5]),
    "convtranspose weights wrong channels": lambda: _conv_t((1, 3, 4, 4), (2, 2, 3, 3)),
    "maxpool kernel 0": lambda: _pool("MaxPool", (1, 1, 4, 4), kernel_shape=[0, 0]),
    "averagepool kernel 0": lambda: _pool("AveragePool", (1, 1, 4, 4), kernel_shape=[0, 0]),
    "maxpool kernel larger than padded input": lambda: _pool("MaxPool", (1, 1, 4, 4), kernel_shape=[7, 7]),
    "averagepool kernel larger than padded input": lambda: _pool("AveragePool", (1, 1, 4, 4), kernel_shape=[6, 6],
                                                                 pads=[1, 1, 0, 0]),
    "maxpool padding >= kernel": lambda: _pool("MaxPool", (1, 1, 4, 4), kernel_shape=[2, 2], pads=[2, 2, 2, 2]),
    "averagepool padding >= kernel": lambda: _pool("AveragePool", (1, 1, 4, 4), kernel_shape=[3, 3],
                                                   pads=[3, 0, 0, 0]),
    "maxpool negative pads": lambda: _pool("MaxPool", (1, 1, 4, 4), kernel_shape=[2, 2], pads=[-1, 0, 0, 0]),
    "maxpool strides 0": lambda: _pool("MaxPool", (1, 1, 4, 4), kernel_shape=[2, 2], strides=[0, 1]),
    "maxpool kernel_shape rank 1 on 2-D input": lambda: _pool("MaxPool", (1, 1, 4, 4), kernel_shape=[2]),
    "maxpool float kernel_shape": _float_pool_kernel,
    "resize negative scales": lambda: _resize([1, 1, -2, 2]),
    "resize zero scales": lambda: _resize([1, 1, 0, 2]),
    "resize scales wrong length": lambda: _resize([2, 2]),
    "split sizes not summing": lambda: _split([1, 1]),
    "split negative size": lambda: _split([6, -1]),
    "flatten axis out of range": lambda: _flatten(5),
    "flatten axis below -rank": lambda: _flatten(-6),
    "string-typed conv strides": _string_strides,
    "string-typed conv group": _string_group,
    "string-typed flatten axis": _string_flatten_axis,
    "conv kernel_shape disagrees with weights": lambda: _conv((1, 1, 5, 5), (2, 1, 3, 3), kernel_shape=[5, 5]),
    "conv too many inputs": lambda: _conv((1, 1, 5, 5), (2, 1, 3, 3), n_in=4),
    "conv two outputs": lambda: _conv((1, 1, 5, 5), (2, 1, 3, 3), n_out=2),
    "conv negative pads": lambda: _conv((1, 1, 5, 5), (2, 1, 3, 3), pads=[-1, -1, -1, -1]),
    "conv pads with auto_pad": lambda: _conv((1, 1, 5, 5), (2, 1, 3, 3), auto_pad="SAME_UPPER", pads=[0, 0, 0, 0]),
    "convtranspose pads with auto_pad": lambda: _conv_t((1, 2, 4, 4), (2, 2, 3, 3), auto_pad="VALID",
                                                      pads=[1, 1, 1, 1]),
    "hardswish before opset 14": lambda: (_model([_node("HardSwish", ["x"], ["y"])], {"x": (1, 1, 2, 2)}, ["y"],
                                                 opset=13), _feeds(x=(1, 1, 2, 2))),
    "input declares batch 0": lambda: (_model([_node("Relu", ["x"], ["y"])], {"x": (0, 1, 2, 2)}, ["y"]),
                                       _feeds(x=(1, 1, 2, 2))),
    "concat without axis": lambda: (_model([_node("Concat", ["x", "x"], ["y"])], {"x": (1, 1, 2, 2)}, ["y"]),
                                    _feeds(x=(1, 1, 2, 2))),
    "two nodes writing one value": lambda: (_model([helper.make_node("Relu", ["x"], ["y"], name="first"),
                                                    _node("Sigmoid", ["x"], ["y"])],
                                                   {"x": (1, 1, 2, 2)}, ["y"]), _feeds(x=(1, 1, 2, 2))),
    "prelu slope broadcasting beyond the input": lambda: (_model([_node("PRelu", ["x", "s"], ["y"])], {"x": (1, 1, 2, 2)},
                                                                 ["y"], {"s": _w(1, 3, 1, 1)}), _feeds(x=(1, 1, 2, 2))),
    "conv strides 0": lambda: _conv((1, 1, 5, 5), (2, 1, 3, 3), strides=[0, 0]),
    "conv dilations 0": lambda: _conv((1, 1, 5, 5), (2, 1, 3, 3), dilations=[0, 0]),
    "conv group 0": lambda: _conv((1, 1, 5, 5), (2, 1, 3, 3), group=0),
    "conv strides of 3 values": lambda: _conv((1, 1, 5, 5), (2, 1, 3, 3), strides=[1, 1, 1]),
    "conv bias wrong length": lambda: (_model([_node("Conv", ["x", "w", "b"], ["y"])], {"x": (1, 1, 5, 5)}, ["y"],
                                              {"w": _w(2, 1, 3, 3), "b": _w(3)}), _feeds(x=(1, 1, 5, 5))),
    "negative initializer dims": _negative_dims_initializer,
    "pad negative pads (a crop: valid)": lambda: _pad([0, 0, -1, -1, 0, 0, -1, -1]),
    "pad crop beyond the input": lambda: _pad([0, 0, -2, -2, 0, 0, -2, -2]),
    "pad wrong count": lambda: _pad([1, 1]),
    "reflect pad wider than input": lambda: _pad([0, 0, 3, 3, 0, 0, 3, 3], mode="reflect"),
    "concat axis out of range": lambda: (_model([_node("Concat", ["x", "x"], ["y"], axis=4)], {"x": (1, 1, 2, 2)},
                                                ["y"]), _feeds(x=(1, 1, 2, 2))),
    "transpose bad perm": lambda: (_model([_node("Transpose", ["x"], ["y"], perm=[0, 0, 1, 2])], {"x": (1, 1, 2, 2)},
                                          ["y"]), _feeds(x=(1, 1, 2, 2))),
    "gather index out of range": lambda: (_model([_node("Gather", ["x", "i"], ["y"], axis=1)], {"x": (1, 2, 2, 2)},
                                                 ["y"], {"i": np.array([5], np.int64)}), _feeds(x=(1, 2, 2, 2))),
    "softmax axis out of range": lambda: (_model([_node("Softmax", ["x"], ["y"], axis=4)], {"x": (1, 2, 2, 2)},
                                                 ["y"]), _feeds(x=(1, 2, 2, 2))),
}


def build(name: str):
    """(model, feeds) of one case."""
    return CASES[name]()


def ort_verdict(model: onnx.ModelProto, feeds: dict) -> str | None:
    """None when onnxruntime loads and runs the model, else its error (first line)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 4
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        s.run(None, feeds)
    except Exception as e:  # onnxruntime raises its own Fail/InvalidArgument/RuntimeException types
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None
