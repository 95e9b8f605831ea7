"""The studies in --quick mode, into a temporary directory: files, columns, and the facts each one must
get right whatever the timings (the baseline has no accuracy drop, injected subnormals are all
counted, flushed weights have none, FTZ/DAZ reaches every backend's kernels). No timing assertions."""
from __future__ import annotations

import csv

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from convlab.cli import main
from convlab.device import REFERENCE_DIR
from convlab.studies import fusion, nms, subnormal, subnormal_microbench


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _seed_nms_settings() -> set[tuple[int, int, float]]:
    """(NMS_TOP_K, TOP_K, confidence) the seed measured: its timing and accuracy tables."""
    ref = REFERENCE_DIR
    rows = _csv(ref / "line2019_nms_topk.csv") + _csv(ref / "line2019_nms_accuracy.csv")
    return {(int(r["nms_top_k"]), int(r["top_k"]), float(r["confidence"])) for r in rows}


def test_nms_study_quick_via_cli(tmp_path):
    assert main(["study", "nms", "--quick", "--out", str(tmp_path)]) == 0
    for f in ("nms_topk.csv", "nms_stages.csv", "nms_topk.md", "nms_topk.json", "nms_topk.png"):
        assert (tmp_path / f).stat().st_size > 0
    rows = _csv(tmp_path / "nms_topk.csv")
    # The settings the seed measured, from its own CSVs (not from the study's constant), baseline first.
    got = [(int(r["nms_top_k"]), int(r["top_k"]), float(r["confidence"])) for r in rows]
    assert got[0] == (5000, 1000, 0.1) and set(got) == _seed_nms_settings() and len(got) == len(set(got)) == 4
    assert {"t1_wall_ms", "t2_wall_ms", "t1_cpu_ms", "ap_drop_pct", "recall", "ap_drop_confident_pct"} <= set(rows[0])
    base = rows[0]
    assert float(base["ap_drop_pct"]) == 0 and float(base["recall"]) == 1 and float(base["ap_drop_confident_pct"]) == 0
    # Fewer kept boxes (TOP_K 750 < 1000 detections) can only lose recall, never gain it.
    assert all(float(r["recall"]) <= 1 and float(r["detections"]) <= int(r["top_k"]) for r in rows)
    assert {r["stage"] for r in _csv(tmp_path / "nms_stages.csv")} == {"threshold + top-k", "decode", "nms"}
    # 1 thread: the calling thread's CPU time, which cannot exceed the wall time (process CPU time did)
    assert all(float(r["t1_cpu_ms"]) <= float(r["t1_wall_ms"]) for r in rows)
    assert all(float(r["cpu_ms"]) <= float(r["wall_ms"]) for r in _csv(tmp_path / "nms_stages.csv")
               if r["threads"] == "1")
    assert "5000" in (tmp_path / "nms_topk.md").read_text() and "i7-4770hq" in (tmp_path / "nms_topk.md").read_text()


def test_average_precision_matching():
    truth = [(np.array([[0, 0, 1, 1], [2, 2, 3, 3]], np.float32), np.array([0.9, 0.8], np.float32))]
    assert nms.average_precision(truth, truth) == (1.0, 1.0)
    assert nms.average_precision(truth, truth, min_score=0.85) == (1.0, 1.0)
    # One true box found, one false positive scored above it: precision 1/2 at recall 1/2.
    dets = [(np.array([[5, 5, 6, 6], [0, 0, 1, 1]], np.float32), np.array([0.95, 0.9], np.float32))]
    assert nms.average_precision(dets, truth) == (0.25, 0.5)
    # A shifted box with IoU 1/3 < 0.5 is not a match.
    shifted = [(np.array([[0.5, 0, 1.5, 1]], np.float32), np.array([0.9], np.float32))]
    assert nms.average_precision(shifted, truth) == (0.0, 0.0)


def test_fusion_study_quick(tmp_path):
    r = fusion.run(tmp_path, quick=True, backends=("c",))
    rows = _csv(tmp_path / "fusion.csv")
    assert {(x["backend"], x["stage"]) for x in rows} == {
        ("c", s) for s in fusion.STAGES} | {("onnxruntime", s) for s in fusion.ORT_LEVELS}
    assert all(float(x["speedup_cpu"]) == 1 for x in rows if x["stage"] == "original")
    nodes = {x["stage"]: int(x["nodes"]) for x in rows if x["backend"] == "c"}
    assert nodes["original"] > nodes["+ BN folding"] > nodes["+ conv/act fusion"]    # the passes did something
    assert all(float(x["max_rel_diff"]) < 1e-3 for x in rows)
    assert "i7-4770hq" in (tmp_path / "fusion.md").read_text() and "fusion.json" in r["files"]
    assert (tmp_path / "fusion.png").stat().st_size > 0


def _tiny_model(path, fraction):
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32)
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                           helper.make_node("Relu", ["c"], ["y"], name="relu")], "tiny",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 8, 8, 8])],
                          [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    injected = sum(r.injected for r in subnormal.inject_subnormals(m, fraction, seed=1))
    onnx.save(m, path)
    return injected


def test_subnormal_study_on_a_given_model_counts_what_was_injected(tmp_path):
    injected = _tiny_model(tmp_path / "tiny.onnx", 0.25)
    assert injected == 54
    assert main(["study", "subnormal", "--quick", "--model", str(tmp_path / "tiny.onnx"), "--out",
                 str(tmp_path / "out")]) == 0
    w = _csv(tmp_path / "out" / "subnormal_weights.csv")
    assert [(r["layer"], int(r["weights"]), int(r["subnormal"]), int(r["subnormal_after_flush"])) for r in w] == \
        [("conv", 216, 54, 0)]
    lat = _csv(tmp_path / "out" / "subnormal_latency.csv")
    assert {(r["backend"], r["mode"]) for r in lat} == {(b, m) for b in subnormal.BACKENDS for m in ("default", "ftz+daz")}


def test_subnormal_study_quick_zoo(tmp_path):
    r = subnormal.run(tmp_path, quick=True, backends=("c", "onnxruntime"))
    by_fraction = {}
    for row in r["weights"]:
        t = by_fraction.setdefault(row["fraction"], [0, 0, row["injected_total"]])
        t[0] += row["subnormal"]
        t[1] += row["subnormal_after_flush"]
    assert by_fraction[0.0] == [0, 0, 0]
    found, after_flush, injected = by_fraction[0.1]
    assert found == injected > 0 and after_flush == 0
    assert all(a["subnormal"] <= a["values"] for a in r["activations"])
    for f in ("subnormal_weights.csv", "subnormal_activations.csv", "subnormal_latency.csv",
              "subnormal_microbench.csv", "subnormal_probes.csv", "subnormal.md", "subnormal.json", "subnormal.png"):
        assert (tmp_path / f).stat().st_size > 0
    # FTZ/DAZ set through convlab.fpenv must reach the conv kernels of every backend, and only when asked.
    assert {(p["backend"], p["mode"]): p["daz_in_effect"] for p in r["probes"]} == {
        (b, m): m == "ftz+daz" for b in ("c", "onnxruntime") for m in ("default", "ftz+daz")}
    flushed = [m for m in r["micro"] if m["mode"] == "ftz+daz"]
    assert flushed and all(m["result_subnormal"] == 0 for m in flushed)
    assert any(m["result_subnormal"] > 0 for m in r["micro"] if m["mode"] == "default")


def test_microbenchmark_probe_reads_the_mode_inside_numba():
    from convlab import fpenv
    with fpenv.flush_denormals(True, False):
        assert subnormal_microbench.probe()["ftz"] and not subnormal_microbench.probe()["daz"]
    with fpenv.flush_denormals(False, True):
        p = subnormal_microbench.probe()
        assert p["daz"] and not p["ftz"]
        if p["mxcsr"] is not None:
            assert int(p["mxcsr"], 16) & subnormal_microbench.MXCSR_DAZ
    assert subnormal_microbench.probe()["ftz"] == fpenv.get().ftz


@pytest.mark.parametrize("argv, message", [
    (["study", "nms", "--quick", "--model", "x.onnx"], "subnormal study only"),
    (["study", "nms", "--quick", "--threads", "2"], "include 1"),
    (["study", "subnormal", "--quick", "--model", "/nonexistent.onnx"], "nonexistent"),
])
def test_study_cli_errors(tmp_path, capsys, argv, message):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_real_model_input_follows_the_models_layout_and_normalisation():
    from convlab.realmodels import MODELS
    photo = np.zeros((3, 40, 60), np.float32)
    photo[0] = 255.0                                   # pure red
    nhwc = subnormal.real_model_input(MODELS["mtcnn_rnet"], photo)    # NHWC, (p - 127.5) / 128
    assert nhwc.shape == (1, 24, 24, 3) and nhwc.dtype == np.float32
    np.testing.assert_allclose(nhwc[0, 5, 5], [127.5 / 128, -127.5 / 128, -127.5 / 128], rtol=1e-5)
    nchw = subnormal.real_model_input(MODELS["centerface"], photo)    # NCHW, raw pixels
    assert nchw.shape == (1, 3, 480, 800)
    np.testing.assert_allclose(nchw[0, :, 100, 100], [255, 0, 0], rtol=1e-5)


def test_subnormal_study_real_refuses_with_model(tmp_path, capsys):
    assert main(["study", "subnormal", "--real", "--model", "x.onnx", "--out", str(tmp_path)]) != 0
    assert "give --model or --real, not both" in capsys.readouterr().err


def test_real_model_input_follows_the_models_channel_order():
    from convlab.realmodels import MODELS
    photo = np.zeros((3, 40, 60), np.float32)
    photo[0] = 255.0                                   # pure red, RGB
    bgr = subnormal.real_model_input(MODELS["mobileface"], photo)    # BGR, raw pixels
    np.testing.assert_allclose(bgr[0, :, 50, 50], [0, 0, 255], rtol=1e-5)
