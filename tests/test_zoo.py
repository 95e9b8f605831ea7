"""Model zoo: every model builds, checks, runs in onnxruntime with well-scaled outputs, matches its
paper's size, is deterministic per seed; subnormal injection counts; ModelSpec files; export CLI."""
import argparse
import copy
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from convlab.errors import ConvlabError
from convlab.postprocess import priors_for_spec
from convlab.zoo import DEFAULT_MODELS, MODELS, build_model, export_model, normalise_images
from convlab.zoo.calibrate import generated_images, intermediate_values
from convlab.zoo.spec import ModelSpec, ModelSpecError
from convlab.zoo.subnormal import count_subnormal, inject_subnormals, subnormal_report


@pytest.fixture(scope="module")
def zoo():
    return {name: build_model(name, seed=0) for name in MODELS}


def _run(zm, x):
    sess = ort.InferenceSession(zm.model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in zm.spec.outputs], sess.run([o.name for o in zm.spec.outputs], {zm.spec.input.name: x})))


def _image(zm, seed=123):
    # A different image than calibration saw: the statistics must generalise, not just fit.
    return normalise_images(generated_images(1, zm.spec.input.height, zm.spec.input.width, seed), zm.spec)


@pytest.mark.parametrize("name", list(MODELS))
def test_model_checks_runs_and_outputs_are_well_scaled(zoo, name):
    zm = zoo[name]
    onnx.checker.check_model(zm.model, full_check=True)
    outs = _run(zm, _image(zm))
    for o in zm.spec.outputs:
        assert outs[o.name].shape == o.shape
        assert np.isfinite(outs[o.name]).all()
        assert 1e-3 < outs[o.name].std() < 10, f"{o.name} std {outs[o.name].std()}"
    assert len(outs) == len(zm.model.graph.output)


@pytest.mark.parametrize("name", list(MODELS))
def test_activations_neither_explode_nor_vanish_through_depth(zoo, name):
    zm = zoo[name]
    bn_outputs = [n.output[0] for n in zm.model.graph.node if n.op_type == "BatchNormalization"]
    assert bn_outputs, "the graph must keep its BatchNormalization nodes for the folding pass"
    vals = intermediate_values(zm.model, _image(zm, seed=7), bn_outputs)
    stds = np.array([v.std() for v in vals.values()])
    # BN gammas are drawn in [0.8, 1.2]: a calibrated BN's output std sits near 1 at every depth.
    assert stds.min() > 0.3 and stds.max() < 3, (stds.min(), stds.max())
    # Pre-BN activations measured during calibration also stay bounded (He init works); the first
    # BN's input scales with the input normalisation (FaceBoxes feeds raw mean-subtracted pixels).
    pre = np.array(list(zm.pre_bn_std.values()))[1:]
    assert pre.min() > 0.1 and pre.max() < 10


@pytest.mark.parametrize("name, params, macs", [
    ("mobilenet_v1", 4.2e6, 569e6),       # Howard et al. 2017, Table 1 and section 4
    ("mobilenet_v2", 3.4e6, 300e6),       # Sandler et al. 2018, Table 4
    ("extractor", 0.99e6, 221e6),         # Chen et al. 2018 (MobileFaceNet), Table 2
])
def test_size_matches_the_paper(zoo, name, params, macs):
    s = zoo[name].stats
    assert abs(s.params - params) / params < 0.03, s
    assert abs(s.macs - macs) / macs < 0.01, s


def test_layer_counts(zoo):
    v1 = zoo["mobilenet_v1"].stats
    assert (v1.conv_layers, v1.depthwise_layers) == (27, 13)
    # 17 bottlenecks (16 with expansion), first conv, last 1x1, classifier conv.
    v2 = zoo["mobilenet_v2"].stats
    assert (v2.conv_layers, v2.depthwise_layers) == (1 + 16 * 3 + 2 + 1 + 1, 17)
    ext = zoo["extractor"].model.graph.node
    assert sum(n.op_type == "PRelu" for n in ext) > 30
    gdconv = [n for n in ext if n.op_type == "Conv" and any(a.name == "kernel_shape" and list(a.ints) == [7, 7] for a in n.attribute)]
    assert len(gdconv) == 1 and next(a.i for a in gdconv[0].attribute if a.name == "group") == 512


def test_same_seed_same_bytes_other_seed_other_weights(zoo):
    again = build_model("detector", seed=0)
    assert again.model.SerializeToString() == zoo["detector"].model.SerializeToString()
    other = build_model("detector", seed=1)
    w0 = numpy_helper.to_array(zoo["detector"].model.graph.initializer[0])
    w1 = numpy_helper.to_array(other.model.graph.initializer[0])
    assert w0.shape == w1.shape and not np.array_equal(w0, w1)


@pytest.mark.parametrize("name, n_priors", [("detector", 4420), ("faceboxes", 1706)])
def test_detector_priors_match_head_outputs(zoo, name, n_priors):
    zm = zoo[name]
    priors = priors_for_spec(zm.spec)
    outs = _run(zm, _image(zm))
    assert priors.shape == (outs["loc"].shape[1], 4) == (outs["conf"].shape[1], 4) == (n_priors, 4)
    np.testing.assert_allclose(outs["conf"].sum(-1), 1.0, rtol=1e-5)    # documented: softmaxed
    face = outs["conf"][0, :, 1]
    assert 0.05 < (face > 0.1).mean() < 0.95, "scores should spread across the study thresholds"


def test_fitter_points_are_normalised_and_near_the_template(zoo):
    zm = zoo["fitter"]
    pts = _run(zm, _image(zm))["landmarks"][0]
    ref = np.array(zm.spec.decoding["reference_points"])
    assert ((pts > 0) & (pts < 1)).all()
    assert np.abs(pts - ref).max() < 0.25
    assert _run(zoo["fitter68"], _image(zoo["fitter68"]))["landmarks"].shape == (1, 68, 2)


@pytest.mark.parametrize("fraction", [0.0, 0.013, 1.0])
def test_subnormal_injection_counts(zoo, fraction):
    zm = copy.deepcopy(zoo["fitter"])
    report = inject_subnormals(zm.model, fraction, seed=5)
    assert len(report) == zm.stats.conv_layers
    for r in report:
        assert r.injected == round(fraction * r.weights) == r.subnormal
    by_layer = {r.layer: r.subnormal for r in subnormal_report(zm.model)}
    assert by_layer == {r.layer: r.subnormal for r in report}
    if fraction < 1:
        assert np.isfinite(_run(zm, _image(zm))["landmarks"]).all()


def test_build_with_subnormals_is_deterministic_and_reported():
    a = build_model("detector", seed=0, subnormal_fraction=0.02)
    b = build_model("detector", seed=0, subnormal_fraction=0.02)
    assert a.model.SerializeToString() == b.model.SerializeToString()
    assert a.subnormal_count == sum(round(0.02 * r.weights) for r in a.subnormals) > 0
    conv_w = {n.input[1] for n in a.model.graph.node if n.op_type == "Conv"}
    total = sum(count_subnormal(numpy_helper.to_array(t)) for t in a.model.graph.initializer if t.name in conv_w)
    assert total == a.subnormal_count


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_subnormal_fraction_out_of_range(bad):
    with pytest.raises(ConvlabError, match="fraction"):
        build_model("detector", subnormal_fraction=bad)


def test_unknown_model():
    with pytest.raises(ConvlabError, match="unknown zoo model 'resnet'.*mobilenet_v1"):
        build_model("resnet")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_spec_round_trip(zoo, tmp_path, suffix):
    for zm in zoo.values():
        path = tmp_path / f"{zm.name}{suffix}"
        zm.spec.save(path)
        assert ModelSpec.load(path) == ModelSpec.from_dict(zm.spec.to_dict())
        assert ModelSpec.load(path).to_dict() == zm.spec.to_dict()


def _spec_dict(zoo):
    return json.loads(json.dumps(zoo["detector"].spec.to_dict()))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("input"), "missing required key 'input'"),
    (lambda d: d["input"].update(shape=[1, 3, 240]), "input.shape must be 4 positive ints"),
    (lambda d: d["input"].update(layout="CHWN"), "layout must be NCHW or NHWC"),
    (lambda d: d["input"].update(channel_order="RGBA"), "channel_order"),
    (lambda d: d["input"].update(std=[1, 0, 1]), "std must not contain 0"),
    (lambda d: d["input"].update(mean=[1, 2]), "expected 3 values"),
    (lambda d: d["decoding"].update(kind="yolo"), "unknown decoding kind 'yolo'"),
    (lambda d: d["decoding"].update(loc="boxes"), "decoding.loc = 'boxes' is not one of the outputs"),
    (lambda d: d["decoding"].pop("priors"), "missing required key 'priors'"),
    (lambda d: d["decoding"]["priors"].update(steps=[8, 16]), "expected 4 values"),
    (lambda d: d["decoding"]["priors"].update(min_sizes=[[10], [0], [1], [2]]), "min_sizes must be positive"),
    (lambda d: d["decoding"]["priors"].update(min_sizes=[], steps=[]), "min_sizes must be a list"),
    (lambda d: d["decoding"]["priors"].update(densities=[[1], [1], [1], [1]]), "densities must be positive ints"),
    (lambda d: d["decoding"].update(anchors=3), "unknown keys \\['anchors'\\]"),
    (lambda d: d["decoding"].update(conf_activation="sigmoid"), "conf_activation"),
    (lambda d: d["outputs"][0].update(shape=[1, "A", 4]), "outputs\\[0\\].shape: expected a list of positive ints"),
    (lambda d: d["outputs"][1].update(name=7), "outputs\\[1\\].name: expected a non-empty string"),
])
def test_malformed_spec_is_a_clear_error(zoo, mutate, message):
    d = _spec_dict(zoo)
    mutate(d)
    with pytest.raises(ModelSpecError, match=message):
        ModelSpec.from_dict(d)


def test_user_spec_yaml_with_defaults(tmp_path):
    p = tmp_path / "centerface.yaml"
    p.write_text("name: cf\ninput: {name: x, shape: [1, 480, 640, 3], layout: NHWC}\n"
                 "outputs: [{name: hm}, {name: sc}, {name: offset}]\n"
                 "decoding: {kind: centerface, heatmap: hm, scale: sc, offset: offset}\n")
    s = ModelSpec.load(p)
    assert (s.input.height, s.input.width, s.input.channels) == (480, 640, 3)
    assert s.decoding["stride"] == 4 and s.input.std == (1.0, 1.0, 1.0)
    p.write_text(p.read_text().replace("name: offset", "name: off"))
    with pytest.raises(ModelSpecError, match="quote the name"):
        ModelSpec.load(p)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelSpecError, match="not valid JSON"):
        ModelSpec.load(tmp_path / "bad.json")


def _cli(argv):
    from convlab.cli import zoo as zoo_cli
    parser = argparse.ArgumentParser(prog="convlab")
    zoo_cli.register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_export_cli_writes_onnx_and_spec(tmp_path, capsys):
    out = tmp_path / "models"
    assert _cli(["zoo", "export", str(out), "--models", "detector,fitter", "--subnormal-fraction", "0.01", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in report["models"]] == ["detector", "fitter"]
    assert sorted(os.listdir(out)) == ["detector.json", "detector.onnx", "fitter.json", "fitter.onnx"]
    for r in report["models"]:
        spec = ModelSpec.load(r["spec"])
        model = onnx.load(out / spec.onnx)
        onnx.checker.check_model(model)
        assert r["subnormal_weights"] == sum(s.subnormal for s in subnormal_report(model)) > 0
        assert [(s["layer"], s["subnormal"]) for s in r["subnormal_layers"]] == \
            [(s.layer, s.subnormal) for s in subnormal_report(model)]
        assert oct(os.stat(r["onnx"]).st_mode & 0o077) != "0o0"   # not left private like a temp file
    with pytest.raises(ConvlabError, match="unknown zoo model"):
        _cli(["zoo", "export", str(out), "--models", "nope"])
    with pytest.raises(ConvlabError, match="is not a directory"):
        _cli(["zoo", "export", str(out / "detector.onnx"), "--models", "detector"])


def test_export_model_sets_onnx_name(zoo, tmp_path):
    onnx_path, spec_path = export_model(zoo["extractor"], tmp_path)
    assert ModelSpec.load(spec_path).onnx == onnx_path.name == "extractor.onnx"
    assert set(DEFAULT_MODELS) <= set(MODELS)
