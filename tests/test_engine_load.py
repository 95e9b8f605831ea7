"""Loading: old and new export styles, NHWC TensorFlow-style graphs, exporters' shape arithmetic,
and every way a model or an input can be wrong — each a clear ConvlabError at load (or at run
for the inputs), never a crash mid-run."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from convlab.engine import Model, ModelInputError, ModelLoadError, UnsupportedOpError
from convlab.errors import ConvlabError

from engine_util import assert_matches_ort, make_model, ort_run, rand


def small_cnn(opset=13):
    """Conv -> Relu -> MaxPool -> Conv -> GlobalAveragePool -> Flatten -> Gemm."""
    inits = {"w1": rand(8, 3, 3, 3, seed=1), "b1": rand(8, seed=2), "w2": rand(4, 8, 1, 1, seed=3),
             "fc": rand(5, 4, seed=4), "fcb": rand(5, seed=5)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2"),
             helper.make_node("GlobalAveragePool", ["c2"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], name="fc", transB=1)]
    return make_model(nodes, {"x": (1, 3, 16, 16)}, ["y"], inits, opset=opset)


def test_small_cnn_matches_and_reports_kernels():
    m = assert_matches_ort(small_cnn(), {"x": rand(1, 3, 16, 16)})
    assert [layer["layer"] for layer in m.layers()] == ["conv1", "conv2"]


def test_old_style_export_initializers_are_graph_inputs():
    model = small_cnn(opset=9)
    model.ir_version = 3
    model.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                             for t in model.graph.initializer)
    m = assert_matches_ort(model, {"x": rand(1, 3, 16, 16)})
    assert list(m.inputs) == ["x"]


@pytest.mark.parametrize("passes", ["none", "all"])
def test_tensorflow_style_nhwc_graph(passes):
    """tf2onnx's layout: NHWC input and a Transpose to NCHW, SAME padding at stride 2 as an explicit
    Pad, BN as Mul + Add, ReLU6 as Clip, a Transpose back to NHWC before Reshape and Softmax."""
    inits = {"w": rand(6, 3, 3, 3, seed=6), "dw": rand(6, 1, 3, 3, seed=8), "scale": rand(1, 6, 1, 1, seed=10),
             "shift": rand(1, 6, 1, 1, seed=11), "lo": np.float32(0), "hi": np.float32(6),
             "pads": np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "shape": np.array([1, -1, 6], np.int64)}
    nodes = [helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Pad", ["nchw", "pads"], ["padded"]),
             helper.make_node("Conv", ["padded", "w"], ["c"], strides=[2, 2]),
             helper.make_node("Mul", ["c", "scale"], ["scaled"]),
             helper.make_node("Add", ["scaled", "shift"], ["bn"]),
             helper.make_node("Clip", ["bn", "lo", "hi"], ["r"]),
             helper.make_node("Conv", ["r", "dw"], ["d"], auto_pad="SAME_UPPER", group=6),
             helper.make_node("Transpose", ["d"], ["nhwc"], perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["nhwc", "shape"], ["flat"]),
             helper.make_node("Softmax", ["flat"], ["probs"], axis=-1)]
    model = make_model(nodes, {"image": (1, 15, 11, 3)}, ["probs"], inits, opset=13)
    m = assert_matches_ort(model, {"image": rand(1, 15, 11, 3)}, passes=passes)
    if passes == "all":
        assert [n.op for n in m.graph.nodes] == ["Transpose", "Conv", "Conv", "Transpose", "Reshape", "Softmax"]
        assert repr(m.graph.nodes[1].fused) == "relu6"


def exporter_shape_arithmetic():
    """Shape-derived sizes as PyTorch exports them: Resize(sizes=Concat(N,C,2H,2W)) and an Expand
    whose target shape goes through ConstantOfShape/Equal/Where, over a dynamic-H/W input."""
    i64 = lambda *v: np.array(v if len(v) > 1 else v[0], np.int64)  # noqa: E731
    inits = {"i2": i64(2), "i3": i64(3), "two": i64(2), "zero": i64(0), "ax0": i64(0).reshape(1),
             "ax1": i64(1).reshape(1), "nc": i64(1, 3), "bias": rand(3, 1, 1, seed=9), "neg1": i64(-1), "one": i64(1)}
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "i2"], ["h"], axis=0),
             helper.make_node("Gather", ["s", "i3"], ["w"], axis=0),
             helper.make_node("Mul", ["h", "two"], ["h2"]), helper.make_node("Mul", ["w", "two"], ["w2"]),
             helper.make_node("Unsqueeze", ["h2", "ax0"], ["h2u"]), helper.make_node("Unsqueeze", ["w2", "ax0"], ["w2u"]),
             helper.make_node("Concat", ["nc", "h2u", "w2u"], ["sizes"], axis=0),
             helper.make_node("Resize", ["x", "", "", "sizes"], ["up"], mode="nearest"),
             helper.make_node("Shape", ["up"], ["us"]),
             helper.make_node("Shape", ["us"], ["rank"]),
             helper.make_node("ConstantOfShape", ["rank"], ["ones"], value=helper.make_tensor("v", TensorProto.INT64, [1], [1])),
             helper.make_node("Mul", ["ones", "neg1"], ["minus"]),
             helper.make_node("Equal", ["us", "minus"], ["is_neg"]),
             helper.make_node("Where", ["is_neg", "ones", "us"], ["target"]),
             helper.make_node("Expand", ["bias", "target"], ["bias_full"]),
             helper.make_node("Add", ["up", "bias_full"], ["y0"]),
             helper.make_node("Range", ["zero", "h2", "one"], ["rows"]),
             helper.make_node("Cast", ["rows"], ["rowsf"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["rowsf", "ax1"], ["rowcol"]),
             helper.make_node("Add", ["y0", "rowcol"], ["y"])]
    g = helper.make_graph(nodes, "exporter", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    return m


@pytest.mark.parametrize("passes", ["none", "all"])
def test_exporter_shape_subgraphs_fold_for_the_fixed_shape(passes):
    model = exporter_shape_arithmetic()
    m = assert_matches_ort(model, {"x": rand(1, 3, 5, 7)}, passes=passes, input_shapes={"x": (1, 3, 5, 7)})
    remaining = {n.op for n in m.graph.nodes}
    if passes == "all":
        assert remaining == {"Resize", "Add"}, remaining
    else:
        assert {"Shape", "ConstantOfShape", "Where"} <= remaining


def test_dynamic_dims_need_a_shape():
    with pytest.raises(ModelInputError, match=r"dynamic dims \['H', 'W'\].*--shape x="):
        Model.load(exporter_shape_arithmetic())


def test_unsupported_ops_are_all_listed_at_load():
    nodes = [helper.make_node("LRN", ["x"], ["a"], name="norm1", size=3),
             helper.make_node("Relu", ["a"], ["b"], name="ok"),
             helper.make_node("Resize", ["b", "", "s"], ["c"], name="up_cubic", mode="cubic"),
             helper.make_node("TopK", ["c", "k"], ["y", "idx"], name="topk")]
    model = make_model(nodes, {"x": (1, 3, 4, 4)}, ["y"], {"s": np.ones(4, np.float32), "k": np.array([2], np.int64)})
    with pytest.raises(UnsupportedOpError) as e:
        Model.load(model)
    msg = str(e.value)
    for text in ("'norm1': LRN", "'up_cubic': Resize: mode 'cubic'", "'topk': TopK", "supported ops:", "Conv"):
        assert text in msg
    assert [p[0] for p in e.value.problems] == ["norm1", "up_cubic", "topk"]


def test_corrupt_and_truncated_files(tmp_path):
    data = small_cnn().SerializeToString()
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"\x08\x07garbage\xff\xff\xff" * 10)
    with pytest.raises(ModelLoadError, match="garbage.onnx"):
        Model.load(bad)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="no graph"):
        Model.load(empty)
    with pytest.raises(ModelLoadError, match="no such file"):
        Model.load(tmp_path / "missing.onnx")
    with pytest.raises(ModelLoadError, match="is a directory"):
        Model.load(tmp_path)
    # Cut anywhere: it must be a clear ConvlabError (or, if the cut happens to leave a complete
    # smaller model, it must load and run), never another exception.
    for cut in range(1, len(data), max(1, len(data) // 97)):
        path = tmp_path / "cut.onnx"
        path.write_bytes(data[:cut])
        try:
            m = Model.load(path)
        except ConvlabError:
            continue
        m.run(m.random_inputs())


def test_undefined_value_is_a_load_error():
    model = small_cnn()
    del model.graph.initializer[1]            # b1, read by conv1
    with pytest.raises(ModelLoadError, match=r"'conv1' \(Conv\) reads \['b1'\]"):
        Model.load(model)


@pytest.mark.parametrize("opset", [8, 22])
def test_opset_out_of_range(opset):
    model = small_cnn()
    model.opset_import[0].version = opset
    with pytest.raises(ModelLoadError, match=f"opset {opset} is outside"):
        Model.load(model)


def test_inconsistent_shapes_fail_at_load_naming_the_node():
    with pytest.raises(ModelLoadError, match=r"'conv1'.*4 channels, weights expect 3"):
        Model.load(small_cnn(), input_shapes={"x": (1, 4, 16, 16)})
    model = make_model([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")], {"x": (1, 3, 4, 4)}, ["y"],
                       {"s": np.array([5, -1], np.int64)})
    with pytest.raises(ModelLoadError, match="'reshape' \\(Reshape\\) fails"):
        Model.load(model)


def test_one_dimensional_conv_is_a_load_error():
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1d")], {"x": (1, 3, 10)}, ["y"],
                       {"w": rand(2, 3, 3)})
    with pytest.raises(ModelLoadError, match="'conv1d': only 2-D convolution"):
        Model.load(model)


def test_bad_inputs_at_run_and_load():
    m = Model.load(small_cnn())
    x = rand(1, 3, 16, 16)
    with pytest.raises(ModelInputError, match="missing input 'x'"):
        m.run({})
    with pytest.raises(ModelInputError, match="unknown input"):
        m.run({"x": x, "z": x})
    with pytest.raises(ModelInputError, match="must be float32, got float64"):
        m.run({"x": x.astype(np.float64)})
    with pytest.raises(ModelInputError, match=r"shape \(1, 3, 16, 16\).*got \(1, 3, 8, 8\)"):
        m.run({"x": x[:, :, :8, :8]})
    with pytest.raises(ModelInputError, match="must be a numpy array"):
        m.run({"x": x.tolist()})
    with pytest.raises(ModelInputError, match="unknown input"):
        Model.load(small_cnn(), input_shapes={"image": (1, 3, 8, 8)})
    with pytest.raises(ModelInputError, match="rank 4.*rank 3"):
        Model.load(small_cnn(), input_shapes={"x": (3, 8, 8)})


def test_input_shape_override_changes_the_resolution():
    model = small_cnn()
    m = Model.load(model, input_shapes={"x": (1, 3, 24, 20)})
    x = rand(1, 3, 24, 20)
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 24
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 20
    np.testing.assert_allclose(m.run({"x": x})["y"], ort_run(model, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_non_contiguous_input_is_accepted():
    m = Model.load(small_cnn())
    x = np.asfortranarray(rand(1, 3, 16, 16))
    np.testing.assert_array_equal(m.run({"x": x})["y"], m.run({"x": np.ascontiguousarray(x)})["y"])

