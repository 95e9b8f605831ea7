"""Every op the engine runs, against onnxruntime: opset variants, broadcasting, pooling modes,
resize modes, and the Shape/Gather/Concat subgraphs exporters emit. Each case runs with no
passes (ops as written, shape subgraphs executed at run time) and with all passes."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from engine_util import assert_matches_ort, make_model, rand

X4 = (1, 3, 7, 9)


def one(op, attrs=None, inits=None, extra_inputs=(), opset=17, x=X4, n_out=1, out_types=None):
    """A model of one `op` node reading X (and constant inputs named in extra_inputs)."""
    outs = [f"Y{k}" for k in range(n_out)]
    node = helper.make_node(op, ["X", *extra_inputs], outs, name=op.lower(), **(attrs or {}))
    return make_model([node], {"X": x}, outs, inits, opset=opset, out_types=out_types)


def c(a, dtype=np.float32):
    return np.asarray(a, dtype)


W = rand(4, 3, 3, 3, seed=1)
B = rand(4, seed=2)
CASES = {
    # conv-family
    "conv_3x3_pad1": one("Conv", dict(pads=[1, 1, 1, 1]), {"W": W, "B": B}, ["W", "B"]),
    "conv_s2_asym_pads_nobias": one("Conv", dict(strides=[2, 2], pads=[0, 1, 2, 1]), {"W": W}, ["W"]),
    "conv_same_upper_s2": one("Conv", dict(auto_pad="SAME_UPPER", strides=[2, 2]), {"W": W}, ["W"]),
    "conv_dilated": one("Conv", dict(dilations=[2, 2], pads=[2, 1, 2, 1]), {"W": W}, ["W"]),
    "conv_depthwise": one("Conv", dict(group=3, pads=[1, 1, 1, 1]), {"W": rand(3, 1, 3, 3, seed=3)}, ["W"]),
    "conv_opset9": one("Conv", dict(kernel_shape=[3, 3]), {"W": W, "B": B}, ["W", "B"], opset=9),
    "convtranspose_s2": one("ConvTranspose", dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
                            {"W": rand(3, 2, 3, 3, seed=4), "B": rand(2, seed=5)}, ["W", "B"]),
    "convtranspose_groups_outshape": one("ConvTranspose", dict(strides=[2, 2], group=3, output_shape=[14, 18]),
                                         {"W": rand(3, 2, 4, 4, seed=6)}, ["W"]),
    "batchnorm_opset9": one("BatchNormalization", dict(epsilon=1e-3), {"s": c([1, 2, .5]), "b": c([0, 1, -1]),
                            "m": c([.1, .2, .3]), "v": c([1, 2, 3])}, ["s", "b", "m", "v"], opset=9),
    "batchnorm_opset15": one("BatchNormalization", {}, {"s": c([1, 2, .5]), "b": c([0, 1, -1]),
                             "m": c([.1, .2, .3]), "v": c([1, 2, 3])}, ["s", "b", "m", "v"], opset=15),
    # activations
    "relu": one("Relu"), "sigmoid": one("Sigmoid"), "tanh": one("Tanh"),
    "hardsigmoid": one("HardSigmoid", dict(alpha=0.3, beta=0.4)), "hardswish": one("HardSwish", opset=14),
    "leakyrelu": one("LeakyRelu", dict(alpha=0.2)),
    "prelu_per_channel": one("PRelu", inits={"s": c([[[.1]], [[.2]], [[.3]]])}, extra_inputs=["s"]),
    "prelu_scalar_opset9": one("PRelu", inits={"s": c([.25])}, extra_inputs=["s"], opset=9),
    "clip_attrs_opset9": one("Clip", dict(min=0.0, max=0.5), opset=9),
    "clip_inputs_opset13": one("Clip", inits={"lo": c(-0.5), "hi": c(0.7)}, extra_inputs=["lo", "hi"], opset=13),
    "clip_min_only_opset11": one("Clip", inits={"lo": c(0.1)}, extra_inputs=["lo"], opset=11),
    # broadcasting binary ops
    **{f"{op.lower()}_bcast_{k}": one(op, inits={"b": v}, extra_inputs=["b"])
       for op in ("Add", "Mul", "Sub", "Div")
       for k, v in {"chan": rand(3, 1, 1, seed=7) + 3, "row": rand(9, seed=8) + 3, "scalar": c(2.5),
                    "h": rand(1, 1, 7, 1, seed=9) + 3}.items()},
    "add_two_inputs_bcast": make_model([helper.make_node("Add", ["X", "Z"], ["Y0"])], {"X": X4, "Z": (1, 3, 1, 9)}, ["Y0"]),
    "concat_axis1": make_model([helper.make_node("Concat", ["X", "Z"], ["Y0"], axis=1)], {"X": X4, "Z": (1, 2, 7, 9)}, ["Y0"]),
    "concat_axis_neg": make_model([helper.make_node("Concat", ["X", "Z"], ["Y0"], axis=-1)], {"X": X4, "Z": (1, 3, 7, 2)}, ["Y0"]),
    # pooling
    "maxpool_k3s2p1": one("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    "maxpool_ceil": one("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), x=(1, 3, 8, 10)),
    "maxpool_ceil_pads": one("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 0, 1, 0], ceil_mode=1)),
    "maxpool_dilated_opset12": one("MaxPool", dict(kernel_shape=[2, 2], dilations=[2, 2]), opset=12),
    "maxpool_same_upper_opset9": one("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), opset=9),
    "avgpool_exclude_pad": one("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    "avgpool_include_pad": one("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                                   count_include_pad=1)),
    "avgpool_ceil_include_pad": one("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                                        count_include_pad=1, ceil_mode=1), x=(1, 3, 8, 10)),
    "avgpool_ceil": one("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    "globalavgpool": one("GlobalAveragePool"), "globalmaxpool": one("GlobalMaxPool"),
    # layout
    "flatten_axis1_opset9": one("Flatten", opset=9), "flatten_axis2": one("Flatten", dict(axis=2)),
    "reshape_zero_minus1": one("Reshape", inits={"s": c([0, -1, 9], np.int64)}, extra_inputs=["s"]),
    "transpose_nhwc": one("Transpose", dict(perm=[0, 2, 3, 1])), "transpose_default": one("Transpose"),
    "gemm_transB_alpha_beta": one("Gemm", dict(transB=1, alpha=0.5, beta=2.0), {"w": rand(5, 6, seed=10),
                                  "b": rand(5, seed=11)}, ["w", "b"], x=(2, 6)),
    "gemm_transA_opset9": one("Gemm", dict(transA=1), {"w": rand(2, 5, seed=12), "b": rand(1, 5, seed=13)},
                              ["w", "b"], x=(2, 6), opset=9),
    "matmul_batched": one("MatMul", inits={"w": rand(9, 4, seed=14)}, extra_inputs=["w"]),
    "softmax_opset11_axis1_coerced": one("Softmax", dict(axis=1), opset=11),
    "softmax_opset13_last": one("Softmax", opset=13),
    "softmax_opset13_axis1": one("Softmax", dict(axis=1), opset=13),
    "softmax_short_last_axis": one("Softmax", dict(axis=-1), opset=13, x=(1, 50, 2)),
    "softmax_short_middle_axis_opset9": one("Softmax", dict(axis=2), opset=9, x=(1, 50, 3)),
    # resize / upsample
    "upsample_nearest_opset9": one("Upsample", inits={"s": c([1, 1, 2, 2])}, extra_inputs=["s"], opset=9),
    "upsample_linear_opset9": one("Upsample", dict(mode="linear"), {"s": c([1, 1, 2, 3])}, ["s"], opset=9),
    "resize_opset10_nearest": one("Resize", inits={"s": c([1, 1, 2, 2])}, extra_inputs=["s"], opset=10),
    "resize_opset10_linear": one("Resize", dict(mode="linear"), {"s": c([1, 1, 2, 2])}, ["s"], opset=10),
    **{f"resize_{mode}_{ctm}_{how}": one(
        "Resize", dict(mode=mode, coordinate_transformation_mode=ctm),
        {"roi": c([]), "s": c([1, 1, 2, 1.5]) if how == "scales" else c([]),
         **({"z": c([1, 3, 5, 13], np.int64)} if how == "sizes" else {})},
        ["roi", "s"] + (["z"] if how == "sizes" else []), opset=11)
       for mode in ("nearest", "linear")
       for ctm in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric")
       for how in ("scales", "sizes")},
    "resize_nearest_round_prefer_ceil_opset13": one("Resize", dict(nearest_mode="round_prefer_ceil"),
                                                    {"s": c([1, 1, 3, 3])}, ["", "s"], opset=13),
    "resize_nearest_floor_tf_half_pixel": one("Resize", dict(nearest_mode="floor",
                                              coordinate_transformation_mode="tf_half_pixel_for_nn"),
                                              {"s": c([1, 1, 2, 2])}, ["", "s"], opset=13),
    "resize_linear_axes_opset18": one("Resize", dict(mode="linear", axes=[2, 3]), {"s": c([2, 2])}, ["", "s"], opset=18),
    # pad / slice / split / squeeze
    "pad_attrs_opset9": one("Pad", dict(pads=[0, 0, 1, 2, 0, 0, 2, 1], value=1.5), opset=9),
    "pad_reflect_opset11": one("Pad", dict(mode="reflect"), {"p": c([0, 0, 1, 2, 0, 0, 2, 1], np.int64)}, ["p"], opset=11),
    "pad_edge_opset13": one("Pad", dict(mode="edge"), {"p": c([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}, ["p"], opset=13),
    "pad_axes_opset18": one("Pad", {}, {"p": c([1, 2, 3, 0], np.int64), "v": c(-1), "a": c([2, 3], np.int64)},
                            ["p", "v", "a"], opset=18),
    "slice_attrs_opset9": one("Slice", dict(starts=[1, 2], ends=[3, 100], axes=[2, 3]), opset=9),
    "slice_inputs_steps_opset13": one("Slice", {}, {"s": c([-1, 1], np.int64), "e": c([-100, 8], np.int64),
                                      "a": c([2, 3], np.int64), "st": c([-2, 3], np.int64)},
                                      ["s", "e", "a", "st"], opset=13),
    "split_attr_opset11": one("Split", dict(axis=1, split=[1, 2]), opset=11, n_out=2),
    "split_input_opset13": one("Split", dict(axis=3), {"sp": c([4, 5], np.int64)}, ["sp"], opset=13, n_out=2),
    "split_num_outputs_opset18": one("Split", dict(axis=2, num_outputs=3), opset=18, n_out=3),
    "squeeze_attr_opset11": one("Squeeze", dict(axes=[0]), opset=11),
    "squeeze_input_opset13": one("Squeeze", {}, {"a": c([0], np.int64)}, ["a"], opset=13),
    "unsqueeze_attr_opset9": one("Unsqueeze", dict(axes=[0, 5]), opset=9),
    "unsqueeze_input_opset13": one("Unsqueeze", {}, {"a": c([-1], np.int64)}, ["a"], opset=13),
    # newest opsets
    "conv_opset21": one("Conv", dict(pads=[1, 1, 1, 1], strides=[2, 1]), {"W": W, "B": B}, ["W", "B"], opset=21),
    "avgpool_dilated_opset19": one("AveragePool", dict(kernel_shape=[2, 2], dilations=[2, 2]), opset=19),
    "resize_linear_opset19": one("Resize", dict(mode="linear"), {"s": c([1, 1, 1.5, 2])}, ["", "s"], opset=19),
    "pad_opset21": one("Pad", dict(mode="edge"), {"p": c([0, 0, 2, 1, 0, 0, 1, 2], np.int64)}, ["p"], opset=21),
    "reshape_allowzero_opset21": one("Reshape", dict(allowzero=1), {"s": c([3, 7, 9], np.int64)}, ["s"], opset=21),
    "identity": one("Identity"),
    "abs": one("Abs"),
    # reductions: axes as an attribute, then as an input (ReduceSum from 13, the others from 18)
    "reducesum_attr_opset11": one("ReduceSum", dict(axes=[1], keepdims=0), opset=11),
    "reducesum_input_opset13": one("ReduceSum", {}, {"a": c([-1], np.int64)}, ["a"], opset=13),
    "reducesum_all_opset13": one("ReduceSum", dict(keepdims=0), opset=13),
    "reducemean_attr_opset13": one("ReduceMean", dict(axes=[2, 3]), opset=13),
    "reducemean_input_opset18": one("ReduceMean", dict(keepdims=0), {"a": c([1], np.int64)}, ["a"], opset=18),
    "reducemax_attr_opset13": one("ReduceMax", dict(axes=[0, 3], keepdims=0), opset=13),
    "cast_to_int64": one("Cast", dict(to=TensorProto.INT64), out_types={"Y0": TensorProto.INT64}),
    "cast_to_float16": one("Cast", dict(to=TensorProto.FLOAT16), out_types={"Y0": TensorProto.FLOAT16}),
}


def _shape_subgraph(opset):
    """The flatten pattern PyTorch's exporter emits: Reshape(X, Concat(Gather(Shape(X), 0), [-1]))."""
    nodes = [helper.make_node("Shape", ["X"], ["shp"]),
             helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("zero", TensorProto.INT64, [], [0])),
             helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax"] if opset >= 13 else ["n"], ["n1"],
                              **({} if opset >= 13 else {"axes": [0]})),
             helper.make_node("Constant", [], ["m1"], value=helper.make_tensor("m1", TensorProto.INT64, [1], [-1])),
             helper.make_node("Concat", ["n1", "m1"], ["target"], axis=0),
             helper.make_node("Reshape", ["X", "target"], ["Y0"])]
    return make_model(nodes, {"X": X4}, ["Y0"], {"ax": c([0], np.int64)} if opset >= 13 else None, opset=opset)


CASES["shape_gather_concat_reshape_opset9"] = _shape_subgraph(9)
CASES["shape_gather_concat_reshape_opset13"] = _shape_subgraph(13)


@pytest.mark.parametrize("passes", ["none", "all"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_onnxruntime(case, passes):
    model = CASES[case]
    feeds = {i.name: rand(*[d.dim_value for d in i.type.tensor_type.shape.dim], seed=hash(i.name) % 100)
             for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}}
    assert_matches_ort(model, feeds, passes=passes)


def test_every_supported_op_is_covered():
    from convlab.engine import SUPPORTED_OPS
    used = {n.op_type for m in CASES.values() for n in m.graph.node}
    # Ops only exporters' shape arithmetic uses are covered in test_engine_load's exporter subgraph.
    shape_arith = {"ConstantOfShape", "Range", "Equal", "Where", "Expand", "Less", "Greater", "Not", "Min", "Max",
                   "Sum", "Neg", "Sqrt", "Exp", "Floor", "Ceil", "Pow", "Dropout"}
    assert set(SUPPORTED_OPS) - used <= shape_arith, sorted(set(SUPPORTED_OPS) - used - shape_arith)
