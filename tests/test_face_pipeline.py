"""The face pipeline end to end: real photographs, generated images, user model files, the convlab
engine against onnxruntime stage by stage, the output invariants, the CLI."""
import copy
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from convlab import registry
from convlab.cli import main
from convlab.face import build_pipeline
from convlab.face.compare import cosine, l2_distance
from convlab.face.crosscheck import stage_diffs
from convlab.face.errors import ImageError, ModelSpecError
from convlab.face.image import load_image
from convlab.face.models import zoo_model
from convlab.face.pipeline import BlurryImageError
from convlab.zoo.spec import InputSpec, ModelSpec, OutputSpec

PHOTOS = ["builtin:astronaut", "builtin:camera"]
MAX_FACES = 3


def generated_image(seed=0, h=200, w=260):
    """Smooth colour fields with a few bright ellipses: structure for the detector, no download."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 60 * np.sin(xx / rng.uniform(10, 40) + c) * np.cos(yy / rng.uniform(10, 40))
                    for c in range(3)], axis=2)
    for _ in range(3):
        cy, cx, ry, rx = rng.uniform(20, h - 20), rng.uniform(20, w - 20), rng.uniform(10, 40), rng.uniform(8, 30)
        img[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = rng.uniform(150, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def ort_pipe():
    return build_pipeline(max_faces=MAX_FACES)


@pytest.fixture(scope="module")
def zoo_files(tmp_path_factory):
    """The zoo models as user files: X.onnx with X.json beside it (the pipeline's own cached builds)."""
    d = tmp_path_factory.mktemp("zoo")
    return {role: save_with_spec(*zoo_model(role), d / f"{role}.onnx") for role in ("detector", "fitter", "extractor")}


def check_invariants(res):
    h, w = res.image.shape[:2]
    assert len(res.faces) <= MAX_FACES
    scores = [f.score for f in res.faces]
    assert scores == sorted(scores, reverse=True)
    for f in res.faces:
        x1, y1, x2, y2 = f.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert f.landmarks.shape == (5, 2)
        assert (f.landmarks >= f.box[:2]).all() and (f.landmarks <= f.box[2:]).all()
        assert f.template.shape == (128,) and f.template.dtype == np.float32
        assert np.linalg.norm(f.template) == pytest.approx(1.0, abs=1e-6)
        assert cosine(f.template, f.template) == pytest.approx(1.0, abs=1e-6)
        assert l2_distance(f.template, f.template) == 0.0
    assert set(res.stages) >= {"load", "detector", "fitter"}
    assert all(v >= 0 for v in res.stages.values())


@pytest.mark.parametrize("image", PHOTOS + ["generated"])
def test_pipeline_on_photographs_and_generated_images(ort_pipe, image):
    img = generated_image() if image == "generated" else image
    res = ort_pipe.run(img)
    assert res.faces, "the seeded zoo detector finds (arbitrary) faces on these images"
    check_invariants(res)
    again = ort_pipe.run(img)                       # deterministic: same faces, same templates
    for a, b in zip(res.faces, again.faces):
        np.testing.assert_array_equal(a.box, b.box)
        assert cosine(a.template, b.template) == pytest.approx(1.0, abs=1e-6)


def test_letterbox_on_a_wide_image_keeps_boxes_inside_it():
    p = build_pipeline(max_faces=MAX_FACES, resize="letterbox", score_threshold=0.3)
    res = p.run(load_image("builtin:astronaut")[300:420])      # 512 x 120: 5/6 of the input is padding
    assert res.faces
    check_invariants(res)
    assert max(f.box[3] for f in res.faces) == 120               # a box reaching into the padding is clipped


def test_detector_options_are_validated():
    for bad in ({"score_threshold": 1.5}, {"nms_iou": -0.1}, {"max_faces": 0}, {"top_k": 2.5}):
        with pytest.raises(ModelSpecError):
            build_pipeline(**bad)


def lfw_face(k: int, size: int = 128) -> np.ndarray:
    """Face k of the 25x25 LFW crops scikit-image bundles, upscaled to where the detector's anchors are."""
    import skimage.data
    grey = (skimage.data.lfw_subset()[k] * 255).round().astype(np.uint8)
    return np.asarray(Image.fromarray(grey).resize((size, size), Image.BICUBIC))


def test_verification_on_real_face_crops():
    pipe = build_pipeline(score_threshold=0.1)
    t0, _ = pipe.template(lfw_face(0))
    t0_again, _ = pipe.template(lfw_face(0))
    t1, _ = pipe.template(lfw_face(1))
    assert cosine(t0, t0_again) == pytest.approx(1.0, abs=1e-6)
    assert -1.0 <= cosine(t0, t1) < 1.0 - 1e-6


def test_result_json_is_exactly_the_documented_shape(ort_pipe):
    doc = json.loads(json.dumps(ort_pipe.run("builtin:astronaut").to_json()))
    assert set(doc) == {"faces", "stages", "budgets"}
    for f in doc["faces"]:
        assert set(f) == {"box", "score", "landmarks"}
        assert len(f["box"]) == 4 and len(f["landmarks"]) == 5 and all(len(p) == 2 for p in f["landmarks"])
    b = doc["budgets"]
    assert b["detector+fitter"]["limit_ms"] == 40 and b["extraction+comparison"]["limit_ms"] == 500
    for name in ("detector+fitter", "extraction+comparison"):
        assert b[name]["pass"] == (b[name]["ms"] <= b[name]["limit_ms"])
    assert "not the RK3568" in b["machine"]


def convlab_backends():
    import convlab.kernels  # noqa: F401  (registers the kernels)
    return [b for b in ("numba", "c") if b in registry.backends()]


@pytest.mark.parametrize("backend", convlab_backends())
def test_convlab_engine_equals_onnxruntime_stage_by_stage(ort_pipe, backend):
    other = build_pipeline(max_faces=MAX_FACES, runner="convlab", engine_options={"backend": backend})
    diffs, ref, got = stage_diffs("builtin:astronaut", ort_pipe, other)
    assert set(diffs) == {"detector", "fitter", "extractor"}
    for d in diffs.values():
        assert d.calls >= 1 and not d.problems
        assert d.relative < 1e-4, f"{d.stage}: max |diff| {d.max_abs} vs max |ref| {d.max_ref}"
    # End to end the small stage differences compound (a box moved by 0.01 px moves the fitter's crop,
    # and the untrained fitter and extractor amplify what they are given), so these tolerances are in
    # pixels of a 512-px photo and in template angle; the stage-by-stage bound above is the tight one.
    assert len(got.faces) == len(ref.faces)
    for a, b in zip(ref.faces, got.faces):
        np.testing.assert_allclose(b.box, a.box, atol=0.05)
        np.testing.assert_allclose(b.landmarks, a.landmarks, atol=0.25)
        assert cosine(a.template, b.template) > 0.99


def test_model_files_with_specs_beside_them_match_the_in_memory_zoo(ort_pipe, zoo_files):
    p = build_pipeline(zoo_files["detector"], zoo_files["fitter"], zoo_files["extractor"], max_faces=MAX_FACES)
    a, b = ort_pipe.run("builtin:camera"), p.run("builtin:camera")
    assert len(a.faces) == len(b.faces)
    for fa, fb in zip(a.faces, b.faces):
        np.testing.assert_array_equal(fa.box, fb.box)
        np.testing.assert_array_equal(fa.template, fb.template)
    assert p.extractor.fingerprint == ort_pipe.extractor.fingerprint


def test_another_zoo_detector_by_name():
    p = build_pipeline(detector="zoo:faceboxes", max_faces=MAX_FACES)   # densified anchors, BGR Caffe means
    res = p.run("builtin:astronaut")
    assert res.faces
    check_invariants(res)


def test_model_spec_problems_are_clear(tmp_path, zoo_files):
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(open(zoo_files["detector"], "rb").read())
    with pytest.raises(ModelSpecError, match="no model spec for"):
        build_pipeline(detector=str(bare))
    spec_of_fitter = zoo_files["fitter"].replace(".onnx", ".json")
    with pytest.raises(ModelSpecError, match="not a detector"):
        build_pipeline(detector=str(bare), detector_spec=spec_of_fitter)
    with pytest.raises(ModelSpecError, match="not a detector"):
        build_pipeline(detector="zoo:extractor")
    with pytest.raises(ModelSpecError, match="unknown runner"):
        build_pipeline(runner="tensorflow")


# --- hand-built models: an anchor-free detector, and constant-output models that break the invariants ---

def save_with_spec(model: onnx.ModelProto, spec: ModelSpec, path) -> str:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    spec.save(str(path).replace(".onnx", ".json"))
    return str(path)


def centerface_model(path, h=96, w=128, seed=0, dialect="centerface") -> str:
    """A tiny CenterFace-layout network: stride-4 trunk, heatmap (sigmoid) / scale / offset / 10 landmark heads."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def conv(x, c_in, c_out, k, s, name, act=True):
        inits.append(numpy_helper.from_array(rng.normal(0, np.sqrt(2 / (c_in * k * k)), (c_out, c_in, k, k))
                                             .astype(np.float32), name + ".w"))
        inits.append(numpy_helper.from_array(np.zeros(c_out, np.float32), name + ".b"))
        nodes.append(helper.make_node("Conv", [x, name + ".w", name + ".b"], [name + ("_pre" if act else "")],
                                      kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4))
        if act:
            nodes.append(helper.make_node("Relu", [name + "_pre"], [name]))
        return name

    x = conv(conv("input", 3, 8, 3, 2, "c1"), 8, 16, 3, 2, "c2")
    conv(x, 16, 1, 1, 1, "hm_logit", act=False)
    nodes.append(helper.make_node("Sigmoid", ["hm_logit"], ["heatmap"]))
    for name, c in (("scale", 2), ("offset", 2), ("landmarks", 10)):
        conv(x, 16, c, 1, 1, name, act=False)
    fh, fw = h // 4, w // 4
    outs = [("heatmap", 1), ("scale", 2), ("offset", 2), ("landmarks", 10)]
    graph = helper.make_graph(nodes, "centerface_tiny",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, c, fh, fw]) for n, c in outs],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    spec = ModelSpec("centerface_tiny", InputSpec("input", (1, 3, h, w), "NCHW", (127.5,) * 3, (128.0,) * 3, "BGR"),
                     tuple(OutputSpec(n, (1, c, fh, fw)) for n, c in outs),
                     {"kind": "centerface", "heatmap": "heatmap", "scale": "scale", "offset": "offset",
                      "landmarks": "landmarks", "stride": 4, "dialect": dialect})
    return save_with_spec(model, spec, path)


def constant_model(name, input_shape, outputs: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A model whose outputs ignore the input: lets a test dictate exactly what a stage emits."""
    nodes = [helper.make_node("Constant", [], [n], value=numpy_helper.from_array(v, n + "_value"))
             for n, v in outputs.items()]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(v.shape))
                               for n, v in outputs.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_centerface_detector_with_its_own_landmarks_skips_the_fitter(tmp_path):
    path = centerface_model(tmp_path / "cf.onnx")
    p = build_pipeline(detector=path, max_faces=MAX_FACES)
    assert p.fitter is None
    for img in ("builtin:astronaut", generated_image(1)):
        res = p.run(img)
        assert res.faces and res.stages["fitter"] == 0.0
        check_invariants(res)
    with_fitter = build_pipeline(detector=path, fitter="zoo", max_faces=MAX_FACES)
    assert with_fitter.fitter is not None
    assert not p.detector.spec.decoder.decoding.local_max
    c = build_pipeline(detector=path, max_faces=MAX_FACES, runner="convlab", engine_options={"backend": "numba"})
    diffs, ref, got = stage_diffs("builtin:astronaut", p, c)
    assert all(d.relative < 1e-4 for d in diffs.values())
    np.testing.assert_allclose([f.box for f in got.faces], [f.box for f in ref.faces], atol=1e-2)


def nhwc_bgr_extractor(path) -> str:
    """The zoo extractor behind an NHWC, BGR input: Transpose to NCHW, then Gather the channels back to RGB."""
    model, spec = zoo_model("extractor")
    model = copy.deepcopy(model)
    g = model.graph
    for n in g.node:
        n.input[:] = ["rgb_nchw" if i == "input" else i for i in n.input]
    g.initializer.append(numpy_helper.from_array(np.array([2, 1, 0], np.int64), "bgr_to_rgb"))
    g.node.insert(0, helper.make_node("Gather", ["bgr_nchw", "bgr_to_rgb"], ["rgb_nchw"], axis=1))
    g.node.insert(0, helper.make_node("Transpose", ["input"], ["bgr_nchw"], perm=[0, 3, 1, 2]))
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 112, 112, 3]))
    i = spec.input
    nhwc = ModelSpec(spec.name, InputSpec("input", (1, 112, 112, 3), "NHWC", i.mean, i.std, "BGR"), spec.outputs,
                     spec.decoding)
    return save_with_spec(model, nhwc, path)


def test_nhwc_and_bgr_inputs_are_fed_as_their_spec_says(ort_pipe, tmp_path):
    p = build_pipeline(extractor=nhwc_bgr_extractor(tmp_path / "ext.onnx"), max_faces=MAX_FACES)
    a, b = ort_pipe.run("builtin:astronaut"), p.run("builtin:astronaut")
    for fa, fb in zip(a.faces, b.faces, strict=True):
        np.testing.assert_allclose(fb.template, fa.template, atol=1e-5)


def test_centernet_dialect_from_the_spec(tmp_path):
    p = build_pipeline(detector=centerface_model(tmp_path / "cn.onnx", dialect="centernet"), max_faces=MAX_FACES)
    assert p.detector.spec.decoder.decoding.local_max
    res = p.run(generated_image(2))
    assert res.faces
    check_invariants(res)


def test_boxes_are_clipped_to_the_image_and_landmarks_into_their_box(tmp_path, zoo_files):
    det_spec = ModelSpec.load(zoo_files["detector"].replace(".onnx", ".json"))
    a = {o.name: o.shape for o in det_spec.outputs}["loc"][1]      # number of priors
    loc = np.zeros((1, a, 4), np.float32)
    conf = np.tile(np.array([1.0, 0.0], np.float32), (1, a, 1))
    loc[0, 0] = [0, 0, np.log(8) / 0.2, np.log(8) / 0.2]     # prior 0 (top-left corner) grown 8x: over the edge
    conf[0, 0] = [0.1, 0.9]
    loc[0, a - 1] = [3, 3, 0, 0]                             # the last prior pushed out past the bottom right
    conf[0, a - 1] = [0.2, 0.8]
    det = save_with_spec(constant_model("det", [1, 3, 240, 320], {"loc": loc, "conf": conf}), det_spec,
                         tmp_path / "det.onnx")
    fit_spec = ModelSpec.load(zoo_files["fitter"].replace(".onnx", ".json"))
    points = np.array([[[-0.5, 0.2], [1.5, 0.2], [0.5, 0.5], [0.3, 2.0], [0.7, -3.0]]], np.float32)
    fit = save_with_spec(constant_model("fit", [1, 3, 112, 112], {"landmarks": points}), fit_spec,
                         tmp_path / "fit.onnx")
    res = build_pipeline(det, fit, max_faces=MAX_FACES).run("builtin:astronaut")
    assert len(res.faces) == 2
    check_invariants(res)
    f = res.faces[0]
    assert f.box[0] == 0 and f.box[1] == 0                   # clipped at the image's top-left
    assert f.landmarks[0, 0] == f.box[0] and f.landmarks[1, 0] == f.box[2]   # points pulled onto the box edges
    assert f.landmarks[3, 1] == f.box[3] and f.landmarks[4, 1] == f.box[1]
    assert res.faces[1].box[2] == 512 and res.faces[1].box[3] == 512


def test_blur_prefilter_rejects_flat_images_and_passes_photos():
    p = build_pipeline(max_faces=1, blur_threshold=100.0)
    with pytest.raises(BlurryImageError, match="variance of the Laplacian"):
        p.run(np.full((120, 160, 3), 90, np.uint8))
    assert p.run("builtin:astronaut").sharpness > 100


def test_bad_images_give_clear_errors(ort_pipe, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageError, match="bad.jpg"):
        ort_pipe.run(str(tmp_path / "bad.jpg"))
    with pytest.raises(ImageError, match="no face found"):
        build_pipeline(score_threshold=0.999999).template("builtin:camera")


# --- CLI ---

def test_cli_run_json_and_visualisation(tmp_path, capsys):
    vis = tmp_path / "vis.png"
    # The zoo detector named explicitly: `run` defaults to the trained built-in detector when it is cached.
    assert main(["run", "--demo", "--detector", "zoo", "--json", "--max-faces", "2", "--save-vis", str(vis)]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert set(doc) == {"faces", "stages", "budgets", "models"} and len(doc["faces"]) == 2
    assert doc["models"]["detector"] == {"model": "zoo:detector", "trained": False}
    assert "untrained" in err
    assert Image.open(vis).size == (512, 512)
    assert (load_image(str(vis)) != load_image("builtin:astronaut")).any()     # something was drawn


def test_cli_run_text_with_crosscheck(capsys):
    assert main(["run", "builtin:camera", "--detector", "zoo", "--max-faces", "1", "--backend", "numba",
                 "--crosscheck"]) == 0
    out = capsys.readouterr().out
    assert "detector+fitter" in out and "not the RK3568" in out
    assert "crosscheck against onnxruntime" in out and "extractor" in out


def test_cli_verify_and_gallery(tmp_path, capsys):
    a = tmp_path / "a.png"
    Image.fromarray(generated_image(3)).save(a)
    assert main(["verify", str(a), str(a), "--detector", "zoo", "--json", "--max-faces", "1"]) == 0
    v = json.loads(capsys.readouterr().out)
    assert v["cosine"] == pytest.approx(1.0, abs=1e-6) and v["l2"] == pytest.approx(0.0, abs=1e-3)
    assert v["same_person"] is True
    g = ["gallery", "--gallery", str(tmp_path / "g.json")]
    zoo = ["--detector", "zoo", "--max-faces", "1"]     # a generated image has no face a trained detector finds
    assert main(g + ["enroll", "astro", "builtin:astronaut"] + zoo) == 0
    assert main(g + ["enroll", "gen", str(a)] + zoo) == 0
    capsys.readouterr()
    assert main(g + ["identify", str(a), "--json"] + zoo) == 0
    ident = json.loads(capsys.readouterr().out)
    assert ident["candidates"][0]["name"] == "gen" and ident["candidates"][0]["score"] == pytest.approx(1.0, abs=1e-6)
    assert main(g + ["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"astro": 1, "gen": 1}
    assert main(g + ["remove", "astro"]) == 0
    assert main(g + ["remove", "astro"]) == 2
    assert "not in the gallery" in capsys.readouterr().err


def test_cli_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.png")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["run", "--demo", "--backend", "onnxruntime", "--conv", "direct"]) == 2
    assert "--conv" in capsys.readouterr().err
    assert main(["run", "--demo", "--backend", "nope"]) == 2
    assert "unknown backend 'nope'" in capsys.readouterr().err
    assert main(["run"]) == 2
    assert "--demo" in capsys.readouterr().err


def test_cli_face_latency_table(capsys):
    assert main(["face-latency", "builtin:camera", "--choices", "onnxruntime,numba:direct", "--repeat", "1",
                 "--clock", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime" in out and "numba:direct" in out and "not the RK3568" in out
    assert "detector+fitter (<= 40 ms)" in out
