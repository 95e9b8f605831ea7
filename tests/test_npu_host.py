"""NPU path pieces that need no toolkit: model preparation, calibration data, metrics, the
analysis parser, the board checks and the missing-toolkit errors."""
from __future__ import annotations

import json
import subprocess
import sys
import types

import numpy as np
import onnx
import pytest

import npu_models
from convlab.cli import main
from convlab.npu import accuracy, board, calibration, model_prep, toolkit
from convlab.npu.errors import (CalibrationError, NpuError, ToolkitUnavailableError,
                                UnsupportedModelError)
from convlab.zoo.spec import InputSpec

INPUT = InputSpec("input", (1, 3, 24, 32), "NCHW", (127.5,) * 3, (128.0,) * 3, "BGR")


def _save(model, path):
    onnx.save(model, str(path))
    return path


# --- model preparation -----------------------------------------------------------------------

def test_prepare_keeps_a_supported_model_as_is(tmp_path):
    prep = model_prep.prepare(_save(npu_models.tiny_detector(), tmp_path / "det.onnx"), tmp_path / "out", None)
    assert prep.opset == (13, 13) and prep.ir_version == (8, 8)
    assert prep.input.shape == (1, 3, 64, 64) and prep.output_names == ["scores", "boxes"]
    assert any("no model spec" in n for n in prep.notes)


def test_prepare_reexports_a_newer_opset_and_ir_version(tmp_path):
    model = npu_models.tiny_detector(opset=21)
    model.ir_version = 11                       # newer than the toolkit's onnx reads
    prep = model_prep.prepare(_save(model, tmp_path / "det21.onnx"), tmp_path / "out", None)
    out = onnx.load(str(prep.path))
    assert prep.opset == (21, model_prep.MAX_OPSET)
    assert [o.version for o in out.opset_import if o.domain == ""] == [model_prep.MAX_OPSET]
    assert out.ir_version <= model_prep.MAX_IR_VERSION
    assert any("re-exported from opset 21 to 19" in n for n in prep.notes)
    # The re-exported graph computes the same thing.
    import onnxruntime as ort
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    a = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})
    b = ort.InferenceSession(str(prep.path)).run(None, {"input": x})
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def test_prepare_refuses_custom_ops_multiple_inputs_dynamic_shapes(tmp_path):
    with pytest.raises(UnsupportedModelError, match=r"custom-domain ops: fancy \(com.example::FancyNorm\)"):
        model_prep.prepare(_save(npu_models.with_unsupported_op(), tmp_path / "c.onnx"), tmp_path, None)
    m = npu_models.tiny_detector()
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    with pytest.raises(UnsupportedModelError, match="fixed 4-D NCHW shape"):
        model_prep.prepare(_save(m, tmp_path / "d.onnx"), tmp_path, None)
    m = npu_models.tiny_detector()
    m.graph.input.append(onnx.helper.make_tensor_value_info("extra", onnx.TensorProto.FLOAT, [1, 3]))
    with pytest.raises(UnsupportedModelError, match="one input; this one has 2"):
        model_prep.prepare(_save(m, tmp_path / "e.onnx"), tmp_path, None)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(UnsupportedModelError, match="not a readable ONNX model"):
        model_prep.prepare(tmp_path / "junk.onnx", tmp_path, None)


def test_prepare_moves_rank3_concats_off_the_channel_axis(tmp_path):
    """The zoo detector's loc / conf concats of the priors: same outputs, bit for bit, from 4-D views."""
    import onnxruntime as ort
    from convlab import zoo
    zoo.export_model(zoo.build_model("detector"), tmp_path)
    src = tmp_path / "detector.onnx"
    prepared = model_prep.prepare(src, tmp_path / "out", model_prep.find_spec(src, None))
    assert any("concat1, concat2" in n for n in prepared.notes)
    model = onnx.load(str(prepared.path))
    concats = [n for n in model.graph.node if n.op_type == "Concat"]
    assert len(concats) == 2 and all(a.i == 2 for n in concats for a in n.attribute if a.name == "axis")
    x = np.random.default_rng(0).standard_normal((1, 3, 240, 320)).astype(np.float32)
    ref, got = (ort.InferenceSession(str(p)).run(["loc", "conf"], {"input": x}) for p in (src, prepared.path))
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(r, g)


def test_prepare_checks_the_spec_against_the_model(tmp_path):
    path = _save(npu_models.tiny_detector(), tmp_path / "det.onnx")
    spec = {"name": "det", "input": {"name": "input", "shape": [1, 3, 32, 32], "mean": [0, 0, 0], "std": [1, 1, 1]},
            "outputs": [{"name": "scores"}], "decoding": {"kind": "embedding", "output": "scores", "dim": 2}}
    (tmp_path / "det.json").write_text(json.dumps(spec))
    found = model_prep.find_spec(path, None)          # picked up beside the model
    with pytest.raises(UnsupportedModelError, match=r"spec 'det' says input 'input' \[1, 3, 32, 32\]"):
        model_prep.prepare(path, tmp_path / "out", found)


# --- calibration -------------------------------------------------------------------------------

def test_generated_pixels_follow_the_channel_order():
    rgb = calibration.generated_pixels(2, InputSpec("input", (1, 3, 24, 32)), seed=3)
    bgr = calibration.generated_pixels(2, INPUT, seed=3)
    assert rgb.shape == (2, 3, 24, 32) and 0 <= rgb.min() and rgb.max() <= 255
    np.testing.assert_array_equal(bgr, rgb[:, ::-1])


def test_folder_calibration_reads_images_and_npy(tmp_path):
    from PIL import Image
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 0] = 200                                            # a red image, resized to the input
    Image.fromarray(rgb).save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", np.full((1, 3, 24, 32), 7, np.float32))
    batch, info = calibration.pixels(str(tmp_path), INPUT, default=8, seed=0)
    assert batch.shape == (2, 3, 24, 32) and info["images"] == 2
    assert batch[0, 2].min() == 200 and batch[0, :2].max() == 0  # RGB red is channel 2 in BGR
    listing = calibration.write_dataset(batch, tmp_path / "calib")
    files = listing.read_text().split()
    assert len(files) == 2 and np.load(files[1]).shape == (1, 3, 24, 32)


@pytest.mark.parametrize("setup, match", [
    (lambda d: None, "holds no images"),
    (lambda d: np.save(d / "x.npy", np.zeros((1, 3, 32, 24), np.float32)), r"shape \(1, 3, 32, 24\)"),
    (lambda d: (d / "x.png").write_bytes(b"not a png"), "cannot be read"),
])
def test_bad_calibration_folders_are_named(tmp_path, setup, match):
    setup(tmp_path)
    with pytest.raises(CalibrationError, match=match):
        calibration.pixels(str(tmp_path), INPUT, default=8, seed=0)


def test_missing_calibration_folder_and_count():
    with pytest.raises(CalibrationError, match="does not exist"):
        calibration.pixels("/nonexistent/calib", INPUT, default=8, seed=0)
    with pytest.raises(CalibrationError, match="at least one"):
        calibration.pixels(0, INPUT, default=8, seed=0)


# --- metrics and the toolkit's analysis -------------------------------------------------------------

def test_output_errors():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    e = accuracy.output_errors(a, a * 2)
    assert e["cosine"] == pytest.approx(1.0) and e["max_abs"] == 3.0 and e["mean_abs"] == 2.0
    assert accuracy.output_errors(a, -a)["cosine"] == pytest.approx(-1.0)
    assert accuracy.output_errors(np.zeros(3), np.zeros(3))["cosine"] == 1.0
    assert accuracy.output_errors(np.zeros(3), a)["cosine"] == 0.0
    with pytest.raises(ValueError, match="sizes differ"):
        accuracy.output_errors(a, a[:2])


ANALYSIS = """
layer_name                              simulator_error
-----------------------------------------------------------------------
[Input] input                  1.00000 | 0.00000   1.00000 | 0.00000
[exDataConvert] input_int8     0.99998 | 0.86603   0.99998 | 0.86603
[Conv] stem_out
[Relu] stem_relu               0.99996 | 0.92785   0.99996 | 0.92785
[Conv] boxes_int8              0.99962 | 0.71199   0.99990 | 0.36702
[Sigmoid] scores_int8          0.99998 | 0.08090   1.00000 | 0.02526
"""


def test_parse_analysis_and_worst_layers():
    rows = accuracy.parse_analysis(ANALYSIS)
    assert [r["layer"] for r in rows] == ["input", "input_int8", "stem_relu", "boxes_int8", "scores_int8"]
    assert rows[3] == {"op": "Conv", "layer": "boxes_int8", "entire_cos": 0.99962, "entire_euc": 0.71199,
                       "single_cos": 0.9999, "single_euc": 0.36702}
    # Input and conversion rows are not layers one can keep in fp16.
    assert [r["layer"] for r in accuracy.worst_layers(rows, 2)] == ["boxes_int8", "stem_relu"]


# --- a missing toolkit -----------------------------------------------------------------------

def test_missing_toolkit_names_the_cause_and_the_setup_command(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVLAB_RKNN_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(ToolkitUnavailableError, match=r"no-python \(CONVLAB_RKNN_PYTHON\) does not exist.*make rknn"):
        toolkit.Toolkit()
    model = _save(npu_models.tiny_detector(), tmp_path / "det.onnx")
    proc = subprocess.run([sys.executable, "-m", "convlab", "npu", "convert", str(model)], capture_output=True,
                          text=True, env={**__import__("os").environ, "CONVLAB_RKNN_PYTHON": str(tmp_path / "x")})
    assert proc.returncode == 2 and "make rknn" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == [model]          # nothing half-written


def test_a_python_without_the_toolkit_is_reported(monkeypatch):
    monkeypatch.setenv("CONVLAB_RKNN_PYTHON", sys.executable)      # convlab's venv: no rknn module
    with toolkit.Toolkit() as tk:
        with pytest.raises(ToolkitUnavailableError, match=r"cannot be imported.*No module named 'rknn'.*make rknn"):
            tk.call("build")


def test_a_hung_worker_is_stopped(monkeypatch, tmp_path):
    hang = tmp_path / "python"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    hang.chmod(0o755)
    monkeypatch.setenv("CONVLAB_RKNN_PYTHON", str(hang))
    monkeypatch.setattr(toolkit, "REPLY_TIMEOUT", 0.5)
    with toolkit.Toolkit() as tk:
        with pytest.raises(ToolkitUnavailableError, match="no answer to start within 0.5 s"):
            tk.call("build")


def test_cache_location_follows_convlab_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVLAB_CACHE", str(tmp_path))
    monkeypatch.delenv("CONVLAB_RKNN_PYTHON", raising=False)
    assert toolkit.venv_dir() == tmp_path / "rknn-venv"
    with pytest.raises(ToolkitUnavailableError, match="the rknn venv"):
        toolkit.python_path()


def test_install_tells_a_usable_venv_from_a_broken_one(tmp_path):
    from convlab.npu import install
    venv = tmp_path / "rknn-venv"
    assert "does not exist" in install.problem(venv)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    assert "did not finish" in install.problem(venv)                  # no stamp: an interrupted install
    (venv / install.STAMP_FILE).write_text(install.STAMP)
    assert "imports fail" in install.problem(venv)                    # convlab's venv has no rknn


# --- the board ---------------------------------------------------------------------------------

def test_bench_off_board_says_why_and_exits_nonzero(capsys):
    reasons = board.problems()
    assert reasons and any("not an aarch64 board" in r for r in reasons)   # this host is x86-64
    assert main(["npu", "bench", "model.rknn"]) == 2
    err = capsys.readouterr().err
    assert "runs on an RK3568 board only" in err and "no rknnlite module" in err


@pytest.fixture
def fake_board(monkeypatch):
    """rknnlite replaced by a fake whose inference calls fake_board.infer(rknn path, NCHW pixels); the
    board checks pass. Records released runtimes."""
    state = types.SimpleNamespace(infer=None, released=[])

    class FakeLite:
        def __init__(self, verbose=False):
            self.path = None

        def load_rknn(self, path):
            self.path = path
            return 0

        def init_runtime(self):
            return 0

        def inference(self, inputs, data_format):
            assert data_format == "nchw" and len(inputs) == 1
            return state.infer(self.path, inputs[0])

        def release(self):
            state.released.append(self.path)

    api = types.ModuleType("rknnlite.api")
    api.RKNNLite = FakeLite
    monkeypatch.setitem(sys.modules, "rknnlite", types.ModuleType("rknnlite"))
    monkeypatch.setitem(sys.modules, "rknnlite.api", api)
    monkeypatch.setattr(board, "problems", lambda: [])
    return state


def test_bench_on_a_board_times_the_npu(fake_board, tmp_path):
    """The board path with a fake NPU that sleeps: medians, budgets, report lookup."""
    import time

    def infer(path, pixels):
        assert pixels.shape == (1, 3, 8, 8)
        time.sleep(0.002)
        return [pixels.sum()]

    fake_board.infer = infer
    for name in ("detector.int8.rknn", "fitter.fp16.rknn"):
        (tmp_path / name).write_bytes(b"rknn")
        (tmp_path / (name + ".json")).write_text(json.dumps({
            "model": "/elsewhere/missing.onnx", "input": {"name": "input", "shape": [1, 3, 8, 8]},
            "outputs": ["sum"], "config": {"mean_values": [[0, 0, 0]], "std_values": [[1, 1, 1]]}}))
    paths = [tmp_path / "detector.int8.rknn", tmp_path / "fitter.fp16.rknn"]
    with pytest.raises(NpuError, match="face pipeline needs the model .*detector.int8.rknn was converted from"):
        board.bench(paths, repeats=1, warmup=0)
    report = board.bench(paths, repeats=5, warmup=1, image=None)
    assert [r["model"] for r in report["rows"]] == ["detector.int8.rknn", "fitter.fp16.rknn"]
    assert all(2.0 <= r["npu_ms"] < 200 and r["cpu_ms"] is None for r in report["rows"])
    assert report["pipeline"] is None
    (budget,) = report["budgets"]
    assert budget["stages"] == ["detector", "fitter"] and budget["budget_ms"] == 40.0
    assert budget["npu_ms"] == pytest.approx(sum(r["npu_ms"] for r in report["rows"]))
    # The same runner is a face pipeline stage: feeds normalised, the model given pixels back.
    runner = board.LiteRunner(tmp_path / "detector.int8.rknn")
    runner.mean, runner.std = np.full((1, 3, 1, 1), 10, np.float32), np.full((1, 3, 1, 1), 2, np.float32)
    assert runner.input_names == ["input"] and runner.output_names == ["sum"]
    assert runner({"input": np.ones((1, 3, 8, 8), np.float32)})["sum"] == 192 * 12
    (tmp_path / "x.rknn").write_bytes(b"rknn")
    with pytest.raises(NpuError, match="x.rknn.json is missing"):
        board.bench([tmp_path / "x.rknn"], repeats=1, warmup=0)


# --- face pipeline placement and agreement -------------------------------------------------------

def test_parse_stages():
    from convlab.npu.pipeline import parse_stages
    assert parse_stages(["detector=npu:int8", "fitter=npu:fp16", "extractor=cpu:c"]) == {
        "detector": ("npu", "int8"), "fitter": ("npu", "fp16"), "extractor": ("cpu", "c")}
    assert parse_stages(["extractor=cpu"]) == {}                    # stays on the pipeline's runner
    for bad, match in (("nose=npu:int8", "unknown stage 'nose'"), ("detector=npu:int4", "expected detector=npu"),
                       ("detector=gpu", "expected detector=npu"), ("detector=npu", "expected detector=npu"),
                       ("fitter=cpu:cuda", "unknown backend 'cuda'")):
        with pytest.raises(NpuError, match=match):
            parse_stages([bad])
    with pytest.raises(NpuError, match="'detector' is placed twice"):
        parse_stages(["detector=cpu", "detector=npu:fp16"])


def test_place_cpu_stages_without_the_toolkit():
    """cpu:BACKEND swaps the runner for that engine on the stage's own model; no toolkit is started."""
    from convlab.face.models import build_pipeline
    from convlab.face.runners import OrtRunner
    from convlab.npu.pipeline import place, placed
    pipe = build_pipeline(runner="onnxruntime")
    before = pipe.detector.runner, pipe.extractor.runner
    with placed(pipe, {"extractor": ("cpu", "onnxruntime")}) as tk:      # (cpu:numpy: the simulator test)
        assert tk is None and isinstance(pipe.extractor.runner, OrtRunner)
        assert pipe.extractor.runner is not before[1] and pipe.detector.runner is before[0]
    with pytest.raises(NpuError, match="needs the RKNN toolkit"):
        place(pipe, {"fitter": ("npu", "fp16")}, None)


def test_run_with_an_npu_stage_names_a_missing_toolkit(monkeypatch, capsys):
    monkeypatch.setenv("CONVLAB_RKNN_PYTHON", "/nonexistent/python")
    assert main(["run", "--demo", "--stage", "detector=npu:int8"]) == 2
    assert "RKNN-Toolkit2 is not available" in capsys.readouterr().err
    assert main(["verify", "a.png", "b.png", "--stage", "fitter=npu:int4"]) == 2
    assert "expected fitter=npu:fp16|int8|hybrid" in capsys.readouterr().err


def _result(boxes, scores, templates):
    from convlab.face.pipeline import Face, Result
    faces = [Face(np.array(b, float), s, np.array(b, float)[[0, 1, 2, 3, 0, 1, 2, 3, 0, 1]].reshape(5, 2), t)
             for b, s, t in zip(boxes, scores, templates)]
    return Result(faces, {}, np.zeros((4, 4, 3), np.uint8))


def test_face_agreement_matches_sets_not_counts():
    from convlab.npu.pipeline import face_agreement
    t1, t2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    ref = _result([[0, 0, 10, 10], [50, 50, 70, 70]], [0.9, 0.8], [t1, t2])
    # Same count, but the second face is somewhere else: one match, not two.
    got = _result([[1, 0, 11, 10], [100, 100, 120, 120]], [0.45, 0.8], [t1 * 2, t2])
    a = face_agreement(ref, got)
    assert (a["faces_cpu"], a["faces_npu"], a["matched"]) == (2, 2, 1)
    assert a["detection_f1"] == 0.5 and a["mean_iou"] == pytest.approx(90 / 110)
    assert a["confidence_rel_error"] == [{"face_size": 10.0, "rel_error": pytest.approx(0.5)}]
    assert a["landmark_nme"] == pytest.approx(1 / 10)          # every point moved 1 px, face size 10
    assert a["template_cosine_min"] == pytest.approx(1.0) and a["verification_agreement"] is None
    # Two matched faces: their same-person decision flips when the NPU templates coincide.
    got2 = _result([[0, 0, 10, 10], [50, 50, 70, 70]], [0.9, 0.8], [t1, t1])
    assert face_agreement(ref, got2)["verification_agreement"] == 0.0
    assert face_agreement(ref, ref)["verification_agreement"] == 1.0
    empty = _result([], [], [])
    assert face_agreement(empty, empty)["detection_f1"] == 1.0 and face_agreement(ref, empty)["matched"] == 0


def test_bench_per_pipeline_stage(fake_board, tmp_path):
    """Detector and fitter on a fake NPU that runs their ONNX (onnxruntime) after a 3 ms sleep; the
    extractor and the all-CPU reference on a CPU runner: the same faces, per-stage medians with the
    NPU stages' sleep in them, and the seed budgets computed per face from those medians."""
    import time
    import onnxruntime as ort
    from convlab import zoo
    sessions = {}
    for stage, dtype in (("detector", "int8"), ("fitter", "fp16")):
        zoo.export_model(zoo.build_model(stage), tmp_path)
        spec = json.loads((tmp_path / f"{stage}.json").read_text())
        rknn = tmp_path / f"{stage}.{dtype}.rknn"
        rknn.write_bytes(b"rknn")
        (tmp_path / f"{rknn.name}.json").write_text(json.dumps({
            "model": f"/host/zoo/{stage}.onnx",
            "input": {"name": spec["input"]["name"], "shape": spec["input"]["shape"]},
            "outputs": [o["name"] for o in spec["outputs"]],
            "config": {"mean_values": [spec["input"]["mean"]], "std_values": [spec["input"]["std"]]}}))
        sessions[str(rknn)] = (ort.InferenceSession(str(tmp_path / f"{stage}.onnx")), spec["input"])

    def infer(path, pixels):
        session, inp = sessions[path]
        time.sleep(0.003)
        x = (pixels - np.reshape(inp["mean"], (1, -1, 1, 1))) / np.reshape(inp["std"], (1, -1, 1, 1))
        return session.run(None, {inp["name"]: x.astype(np.float32)})

    fake_board.infer = infer
    report = board.bench(list(sessions), repeats=2, warmup=1, cpu_backend="onnxruntime")
    p = report["pipeline"]
    assert p["npu_stages"] == {"detector": "detector.int8.rknn", "fitter": "fitter.fp16.rknn"}
    assert p["cpu"]["faces"] == p["npu"]["faces"] == 1
    for side in ("cpu", "npu"):
        ms, budgets = p[side]["stages_ms"], p[side]["budgets"]
        assert {"load", "detector", "fitter", "align", "extractor", "compare"} <= set(ms)
        assert budgets["detector+fitter"]["ms"] == pytest.approx(ms["detector"] + ms["fitter"], abs=1e-3)
        assert budgets["detector+fitter"]["limit_ms"] == 40.0
        assert budgets["extraction+comparison"]["limit_ms"] == 500.0 and budgets["machine"].startswith("this board")
    assert p["npu"]["stages_ms"]["detector"] >= 3.0 and p["npu"]["stages_ms"]["fitter"] >= 3.0
    assert [r["cpu_ms"] > 0 for r in report["rows"]] == [True, True]      # the .onnx beside: timed on the CPU
    assert sorted(set(fake_board.released)) == sorted(sessions)            # every runtime released


def _fake_worker(tmp_path, body: str):
    script = tmp_path / "python"
    script.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    script.chmod(0o755)
    return script


def test_a_worker_printing_a_partial_line_is_stopped_at_the_timeout(monkeypatch, tmp_path):
    # Issue 16: select() saw the partial line's bytes, then readline() blocked past the timeout forever.
    fake = _fake_worker(tmp_path, 'sys.stdout.write(\'{"ok": true, "result": {}}\\n{"ok": tr\'); sys.stdout.flush()\n'
                                  'sys.stdin.readline(); time.sleep(60)')
    monkeypatch.setenv("CONVLAB_RKNN_PYTHON", str(fake))
    monkeypatch.setattr(toolkit, "REPLY_TIMEOUT", 1.0)
    import time
    t0 = time.monotonic()
    with toolkit.Toolkit() as tk:
        with pytest.raises(NpuError, match=r"no answer to build within 1 s.*bytes of a line"):
            tk.call("build")
    assert time.monotonic() - t0 < 10


def test_a_worker_trickling_bytes_cannot_extend_the_timeout(monkeypatch, tmp_path):
    fake = _fake_worker(tmp_path, 'sys.stdout.write(\'{"ok": true, "result": {}}\\n\'); sys.stdout.flush()\n'
                                  'sys.stdin.readline()\nfor _ in range(100):\n'
                                  '    sys.stdout.write("x"); sys.stdout.flush(); time.sleep(0.2)')
    monkeypatch.setenv("CONVLAB_RKNN_PYTHON", str(fake))
    monkeypatch.setattr(toolkit, "REPLY_TIMEOUT", 1.0)
    import time
    t0 = time.monotonic()
    with toolkit.Toolkit() as tk:
        with pytest.raises(NpuError, match="no answer to build within 1 s"):
            tk.call("build")
    assert time.monotonic() - t0 < 10


def test_a_malformed_worker_reply_is_an_npu_error(monkeypatch, tmp_path):
    fake = _fake_worker(tmp_path, 'sys.stdout.write(\'{"ok": true, "result": {}}\\nnot json\\n\'); '
                                  'sys.stdout.flush(); sys.stdin.readline(); time.sleep(60)')
    monkeypatch.setenv("CONVLAB_RKNN_PYTHON", str(fake))
    with toolkit.Toolkit() as tk:
        with pytest.raises(NpuError, match="malformed reply to build"):
            tk.call("build")


def test_replies_split_across_reads_are_joined(monkeypatch, tmp_path):
    fake = _fake_worker(tmp_path, 'sys.stdout.write(\'{"ok": true, "result": {}}\\n\'); sys.stdout.flush()\n'
                                  'for line in sys.stdin:\n'
                                  '    sys.stdout.write(\'{"ok": true, \'); sys.stdout.flush(); time.sleep(0.2)\n'
                                  '    sys.stdout.write(\'"result": {"n": 1}}\\n\'); sys.stdout.flush()')
    monkeypatch.setenv("CONVLAB_RKNN_PYTHON", str(fake))
    with toolkit.Toolkit() as tk:
        assert tk.call("build")["n"] == 1
        assert tk.call("build")["n"] == 1


# --- trained models: initializer inputs, dynamic dims, NHWC; the study's metrics ---------------------

def _nhwc_model(lead_transpose: bool, opset: int = 12) -> onnx.ModelProto:
    """A keras2onnx-like model: NHWC input with a dynamic batch, (optionally) Transpose to NCHW, Conv, PRelu."""
    from onnx import helper, numpy_helper
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2])] if lead_transpose else [
        helper.make_node("Relu", ["x"], ["x_relu"]), helper.make_node("Transpose", ["x_relu"], ["x_nchw"], perm=[0, 3, 1, 2])]
    nodes += [helper.make_node("Conv", ["x_nchw", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
              helper.make_node("PRelu", ["c", "slope"], ["y"])]
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b"),
             numpy_helper.from_array(np.full((4, 1, 1), 0.1, np.float32), "slope")]
    graph = helper.make_graph(nodes, "nhwc", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 8, 10, 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4, 8, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model


def _spec(name, shape, layout, mean=127.5, std=128.0):
    from convlab.zoo.spec import ModelSpec
    return ModelSpec("m", InputSpec(name, shape, layout, (mean,) * 3, (std,) * 3, "RGB"), outputs=())


@pytest.mark.parametrize("lead_transpose", [True, False])
def test_prepare_feeds_an_nhwc_model_nchw(tmp_path, lead_transpose):
    """NHWC input with a dynamic batch: fixed from the spec, fed NCHW through a Transpose that cancels
    against the exporter's own NHWC -> NCHW one when the graph starts with it; same outputs."""
    import onnxruntime as ort
    model = _nhwc_model(lead_transpose)
    path = _save(model, tmp_path / "nhwc.onnx")
    prep = model_prep.prepare(path, tmp_path / "out", _spec("x", (1, 8, 10, 3), "NHWC"))
    assert prep.input.shape == (1, 3, 8, 10) and prep.input.layout == "NCHW" and prep.source_layout == "NHWC"
    assert prep.input.mean == (127.5,) * 3 and prep.input.std == (128.0,) * 3
    out = onnx.load(str(prep.path))
    assert [d.dim_value for d in out.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 8, 10]
    assert [d.dim_value for d in out.graph.output[0].type.tensor_type.shape.dim] == [1, 4, 8, 10]
    assert sum(n.op_type == "Transpose" for n in out.graph.node) == (0 if lead_transpose else 2)
    assert any("NHWC input" in n for n in prep.notes) and any("dynamic input dimensions fixed" in n for n in prep.notes)
    x = np.random.default_rng(0).standard_normal((1, 8, 10, 3)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(prep.path)).run(None, {"x": x.transpose(0, 3, 1, 2).copy()})[0]
    np.testing.assert_array_equal(ref, got)


def test_prepare_drops_initializers_listed_as_inputs(tmp_path):
    """An opset-9 export (PyTorch 1.2, CenterFace) lists every weight as a graph input too."""
    model = npu_models.tiny_detector(opset=9)
    model.graph.input.extend(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                             for t in model.graph.initializer)
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_param = "W"      # and leaves a dim dynamic
    path = _save(model, tmp_path / "old.onnx")
    with pytest.raises(UnsupportedModelError, match="fixed 4-D NCHW shape"):    # no spec: nothing fixes W
        model_prep.prepare(path, tmp_path / "out", None)
    prep = model_prep.prepare(path, tmp_path / "out", _spec("input", (1, 3, 64, 64), "NCHW", 0.0, 1.0))
    out = onnx.load(str(prep.path))
    assert [i.name for i in out.graph.input] == ["input"] and prep.input.shape == (1, 3, 64, 64)
    assert any(f"{len(model.graph.initializer)} initializers listed as graph inputs" in n for n in prep.notes)
    with pytest.raises(UnsupportedModelError, match=r"spec 'm' says input 'input' \[1, 3, 32, 64\]"):
        model_prep.prepare(path, tmp_path / "out", _spec("input", (1, 3, 32, 64), "NCHW"))
    with pytest.raises(UnsupportedModelError, match="NCHW or NHWC"):
        model_prep.prepare(path, tmp_path / "out", _spec("input", (1, 3, 64, 64), "CHWN"))


def test_builtin_models_resolve_to_the_cache_and_their_entry(monkeypatch, tmp_path):
    from convlab import realmodels
    from convlab.errors import ConvlabError
    with pytest.raises(UnsupportedModelError, match="unknown built-in model 'nope'; built-in models: centerface"):
        model_prep.resolve("builtin:nope")
    with pytest.raises(UnsupportedModelError, match="carries its own spec"):
        model_prep.resolve("builtin:mtcnn_onet", "x.json")
    if (realmodels.cache_dir() / "mtcnn_onet.onnx").is_file():
        path, spec = model_prep.resolve("builtin:mtcnn_onet")
        assert path == realmodels.path("mtcnn_onet")
        assert (spec.input.name, spec.input.shape, spec.input.layout) == ("input_3", (1, 48, 48, 3), "NHWC")
        assert spec.input.mean == (127.5,) * 3 and spec.input.std == (128.0,) * 3
    monkeypatch.setenv("CONVLAB_CACHE", str(tmp_path))
    with pytest.raises(ConvlabError, match=r"real model 'centerface' is not in the cache .*make setup"):
        model_prep.resolve("builtin:centerface")
    assert main(["npu", "convert", "builtin:nope"]) == 2


def test_study_refuses_a_missing_cache_and_photo_folder(monkeypatch, tmp_path, capsys):
    from convlab.npu import study
    out = ["--out", str(tmp_path / "r")]
    assert main(["npu", "study", "--photos", str(tmp_path / "none"), *out]) == 2
    err = capsys.readouterr().err
    assert "photo folder" in err and "does not exist" in err
    monkeypatch.setenv("CONVLAB_CACHE", str(tmp_path))
    assert main(["npu", "study", *out]) == 2
    assert "real model 'centerface' is not in the cache" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(NpuError, match="holds no images"):
        study.cached_photos(tmp_path / "empty")
    assert study.cached_photos() == []          # no $CONVLAB_CACHE/photos: the study uses the astronaut


def test_size_bins_and_detection_agreement():
    from convlab.face.stages import Detections
    from convlab.npu import metrics
    assert metrics.size_labels() == ["<16", "16-32", "32-64", "64-128", ">=128"]
    assert [metrics.size_bin(s) for s in (0, 15.9, 16, 31.99, 32, 127, 128, 900)] == [
        "<16", "<16", "16-32", "16-32", "32-64", "64-128", ">=128", ">=128"]
    assert metrics.face_side([0, 0, 8, 32]) == 16.0
    eyes = np.array([[0, 0], [10, 0], [5, 5], [2, 8], [8, 8]], float)
    assert metrics.interocular_nme(eyes, eyes + [0, 1]) == pytest.approx(0.1)     # 1 px over 10 px between the eyes

    def dets(boxes, scores):
        boxes = np.array(boxes, np.float32).reshape(-1, 4)
        lms = np.stack([b[:2] + eyes * (b[2] - b[0]) / 10 for b in boxes]) if len(boxes) else np.zeros((0, 5, 2))
        return Detections(boxes, np.array(scores, np.float32), lms)

    ref = dets([[0, 0, 10, 10], [100, 100, 200, 200], [300, 300, 340, 340]], [0.6, 0.9, 0.8])
    got = dets([[0, 0, 10, 10], [100, 100, 200, 200], [500, 0, 520, 20]], [0.3, 0.9, 0.7])  # small face: conf halved
    one = metrics.detection_agreement(ref, got)
    assert (one["faces_fp32"], one["faces_npu"], one["matched"], one["extra_sides"]) == (3, 3, 2, [20.0])
    s = metrics.summarise_detections([one, metrics.detection_agreement(ref, ref)])
    assert s["faces_fp32"] == 6 and s["matched"] == 5 and s["detection_f1"] == pytest.approx(10 / 12)
    b = s["by_size"]
    assert b["<16"]["faces_fp32"] == 2 and b["<16"]["recall"] == 1.0
    assert b["<16"]["conf_rel_error"] == {"mean": pytest.approx(0.25), "max": pytest.approx(0.5)}
    assert b["32-64"]["recall"] == 0.5 and b["32-64"]["conf_rel_error"]["max"] == 0.0   # the 40 px face lost once
    assert b["16-32"]["faces_fp32"] == 0 and b["16-32"]["recall"] is None and b["16-32"]["extra_npu"] == 1
    assert b["64-128"]["landmark_nme"]["max"] == pytest.approx(0.0, abs=1e-6) and b[">=128"]["faces_fp32"] == 0


def test_verification_flips_and_the_pair_threshold():
    from convlab.npu import metrics
    a, b, c = np.array([1.0, 0, 0]), np.array([0.8, 0.6, 0]), np.array([0, 0, 1.0])
    assert metrics.pair_threshold([a, b, c]) == pytest.approx(0.0)        # pair cosines 0.8, 0, 0
    same = metrics.verification([a, b, c], [a, b, c], 0.5)
    assert (same["pairs"], same["decisions_flipped"], same["template_cosine"]["min"]) == (3, 0, pytest.approx(1.0))
    moved = metrics.verification([a, b, c], [a, c, c], 0.5)     # b's template went to c: two decisions change
    assert moved["decisions_flipped"] == 2 and moved["flipped_fraction"] == pytest.approx(2 / 3)
    assert moved["template_cosine"]["min"] == pytest.approx(0.0)


def test_heaviest_split_keeps_int8_in_the_heaviest_layers(tmp_path):
    """3DiVi's split: int8 only where the MACs are; a conv's fused activation goes with it."""
    path = _save(npu_models.tiny_extractor(), tmp_path / "ext.onnx")
    macs = {r["layer"]: r["macs"] for r in model_prep.layer_macs(path)}
    assert macs == {"stem": 16 * 16 * 16 * 27, "dw": 16 * 16 * 16 * 9, "pw": 32 * 16 * 16 * 16,
                    "down": 32 * 8 * 8 * 288, "fc": 32 * 32}
    fp16, int8, share = model_prep.heaviest_split(path, 0.5)
    assert [r["layer"] for r in int8] == ["down"] and int8[0]["tensors"] == ["down_out", "down_relu"]
    assert share == pytest.approx(macs["down"] / sum(macs.values()))
    assert "down_out" not in fp16 and "down_relu" not in fp16 and {"stem_out", "stem_relu", "fc_out"} <= set(fp16)
    fp16_all, int8_all, share_all = model_prep.heaviest_split(path, 1.0)
    assert len(int8_all) == 5 and share_all == 1.0 and not {"stem_out", "fc_out"} & set(fp16_all)
