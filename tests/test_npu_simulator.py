"""The NPU path through RKNN-Toolkit2's simulator (the cached rknn venv, `make rknn`).

These run in every CI run. If the rknn venv is missing they FAIL with the setup instruction; only
an explicit CONVLAB_SKIP_RKNN=1 skips them. One worker serves the whole module (the toolkit takes
seconds to import); calibration sets and input counts are tiny to keep the simulator bounded.
"""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import npu_models
from convlab import zoo
from convlab.cli import main
from convlab.npu import compare, convert, toolkit
from convlab.npu.convert import Options
from convlab.npu.errors import CalibrationError, ToolkitRejectedError
from convlab.npu.runner import NpuRunner

CALIB = 4


@pytest.fixture(scope="module")
def tk():
    if os.environ.get("CONVLAB_SKIP_RKNN") == "1":
        pytest.skip("CONVLAB_SKIP_RKNN=1: RKNN simulator tests skipped on request")
    try:
        toolkit.python_path()
    except toolkit.ToolkitUnavailableError as e:
        pytest.fail(f"{e} (or set CONVLAB_SKIP_RKNN=1 to skip these tests deliberately)")
    with toolkit.Toolkit() as t:
        assert t.info["toolkit"] == "2.5.0"
        yield t


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    """The zoo's face detector and template extractor, exported with their specs."""
    d = tmp_path_factory.mktemp("zoo")
    for name in ("detector", "extractor"):
        zoo.export_model(zoo.build_model(name), d)
    return d


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny_detector.onnx"
    onnx.save(npu_models.tiny_detector(), str(path))
    return path


def _ort(path, x):
    s = ort.InferenceSession(str(path))
    return s.run(None, {s.get_inputs()[0].name: x})


# --- the zoo models: convert in fp16 and int8, compare in the simulator -----------------------------

@pytest.mark.parametrize("dtype", ["fp16", "int8"])
@pytest.mark.parametrize("name", ["detector", "extractor"])
def test_convert_zoo_model(tk, zoo_dir, tmp_path, name, dtype):
    out = tmp_path / f"{name}.{dtype}.rknn"
    report = convert.convert(zoo_dir / f"{name}.onnx", out, Options(dtype=dtype, calib=CALIB), toolkit=tk)
    assert out.stat().st_size == report["rknn_bytes"] > 0
    # No layer inflated by the conversion (before model_prep moved the detector's prior concats off
    # the channel axis, its int8 .rknn was 20 MB for a 1 MB model).
    assert report["rknn_bytes"] < 1.5 * (zoo_dir / f"{name}.onnx").stat().st_size
    on_disk = json.loads(convert.report_path(out).read_text())
    assert on_disk == json.loads(json.dumps(report))
    spec = json.loads((zoo_dir / f"{name}.json").read_text())["input"]
    # mean / std come from the zoo spec, per channel, into the toolkit's config.
    assert report["config"]["mean_values"] == [spec["mean"]] and report["config"]["std_values"] == [spec["std"]]
    assert report["toolkit"]["toolkit"] == "2.5.0" and report["options"]["dtype"] == dtype
    assert report["calibration"] == (None if dtype == "fp16" else {"source": "generated", "images": CALIB,
                                                                   "seed": convert.CALIBRATION_SEED})
    assert ("--calib ignored: fp16 needs no calibration" in report["notes"]) == (dtype == "fp16")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, out.name + ".json"])


def test_compare_zoo_detector_and_extractor(tk, zoo_dir, tmp_path):
    models = [zoo_dir / "detector.onnx", zoo_dir / "extractor.onnx"]
    report = compare.compare(models, ("fp16", "int8"), Options(calib=CALIB), n_inputs=1, toolkit=tk,
                             layers_for=("int8",))
    rows = {(r["model"], r["dtype"], r["output"]): r for r in report["rows"]}
    assert set(rows) == {(m, d, o) for m, outs in (("detector", ("loc", "conf")), ("extractor", ("embedding",)))
                         for d in ("fp32 CPU", "fp16", "int8") for o in outs}
    for (model, dtype, output), r in rows.items():
        floor = {"fp32 CPU": 0.99999, "fp16": 0.999, "int8": 0.9}[dtype]
        assert r["cosine"] > floor, (model, dtype, output, r)
        assert 0 <= r["mean_abs"] <= r["max_abs"]
    # int8 loses more than fp16, on every output: the comparison measures something.
    for model, output in (("detector", "loc"), ("detector", "conf"), ("extractor", "embedding")):
        assert rows[(model, "int8", output)]["mean_abs"] > rows[(model, "fp16", output)]["mean_abs"]
    # Per-layer analysis: every conv stack layer listed, the worst one named in the table.
    layers = report["models"][str(models[1].resolve())]["details"]["int8"]["layers"]
    assert len(layers) > 20 and all(-1 <= l["single_cos"] <= 1.00001 for l in layers)
    assert rows[("extractor", "int8", "embedding")]["worst_layer"] in {l["layer"] for l in layers}
    assert report["models"][str(models[1].resolve())]["details"]["fp16"]["layers"] is None
    assert rows[("extractor", "fp16", "embedding")]["worst_layer"] is None
    js, md = compare.write(report, tmp_path / "results")
    assert json.loads(js.read_text())["rows"] == report["rows"]
    assert md.read_text().count("\n| detector |") == 6


# --- hybrid ----------------------------------------------------------------------------------------

def test_hybrid_keeps_the_chosen_layers_in_fp16(tk, tmp_path):
    """Every layer of the tiny extractor kept in fp16 must bring hybrid back to fp16 accuracy."""
    path = tmp_path / "tiny_extractor.onnx"
    onnx.save(npu_models.tiny_extractor(), str(path))
    all_layers = ("stem_out", "stem_relu", "dw_out", "dw_relu", "pw_out", "pw_relu", "down_out", "down_relu",
                  "gap_2conv0", "pooled", "fc_out_mm", "embedding")     # the toolkit's names for them
    out = tmp_path / "ext.hybrid.rknn"
    report = convert.convert(path, out, Options(dtype="hybrid", calib=CALIB, fp16_layers=all_layers), toolkit=tk)
    assert report["fp16_layers"] and set(report["fp16_layers"]) <= set(all_layers)
    assert report["hybrid_selection"] == {"method": "chosen by the user"}

    session = convert.ModelSession(tk, path, Options(calib=CALIB, fp16_layers=all_layers, dtype="hybrid"))
    result = compare.compare_model(session, ("fp16", "int8", "hybrid"), 1, "numba")
    err = {r["dtype"]: r for r in result["rows"]}
    assert err["hybrid"]["mean_abs"] < err["int8"]["mean_abs"] / 3
    assert err["hybrid"]["cosine"] > 0.9999


def test_auto_hybrid_takes_the_worst_int8_layers(tk, tiny, tmp_path):
    report = convert.convert(tiny, tmp_path / "h.rknn", Options(dtype="hybrid", calib=CALIB, hybrid_auto="worst",
                                                                  hybrid_worst=2),
                             toolkit=tk)
    chosen = report["hybrid_selection"]["int8_single_cos"]
    assert len(chosen) == 2 and len(report["fp16_layers"]) == 2
    assert "lowest single-layer cosine" in report["hybrid_selection"]["method"]


def test_hybrid_by_the_toolkits_proposal(tk, tiny, tmp_path):
    report = convert.convert(tiny, tmp_path / "p.rknn", Options(dtype="hybrid", calib=CALIB), toolkit=tk)
    assert "proposal" in report["hybrid_selection"]["method"] and isinstance(report["fp16_layers"], list)


def test_unknown_hybrid_layer_is_named(tk, tiny, tmp_path):
    with pytest.raises(ToolkitRejectedError, match="layer 'no_such_layer' is not in the quantization config"):
        convert.convert(tiny, tmp_path / "h.rknn", Options(dtype="hybrid", calib=CALIB, fp16_layers=("no_such_layer",)),
                        toolkit=tk)
    assert list(tmp_path.iterdir()) == [tiny]


# --- opset, layout, the stage runner -----------------------------------------------------------------

def test_opset_21_model_is_reexported_and_runs_correctly(tk, tmp_path):
    """Opset 21 (the toolkit stops at 19) on a non-square input: also proves the NCHW handling,
    since a transposed input would not even have the right shape."""
    path = tmp_path / "det21.onnx"
    onnx.save(npu_models.tiny_detector(opset=21), str(path))
    report = convert.convert(path, tmp_path / "det21.rknn", Options(dtype="fp16"), toolkit=tk)
    assert report["opset"]["model"] == 21 and report["opset"]["toolkit"] == 19
    wide = tmp_path / "wide.onnx"
    model = npu_models.tiny_detector(opset=21)
    for value, dims in ((model.graph.input[0], (1, 3, 48, 80)), (model.graph.output[0], (1, 2, 12, 20)),
                        (model.graph.output[1], (1, 4, 12, 20))):
        for d, v in zip(value.type.tensor_type.shape.dim, dims):
            d.dim_value = v
    onnx.save(model, str(wide))
    with NpuRunner(wide, Options(dtype="fp16"), toolkit=tk) as runner:
        assert runner.input_names == ["input"] and runner.output_names == ["scores", "boxes"]
        x = np.random.default_rng(0).standard_normal((1, 3, 48, 80)).astype(np.float32)
        got = runner({"input": x})
        for ref, name in zip(_ort(wide, x), runner.output_names):
            assert got[name].shape == ref.shape
            np.testing.assert_allclose(got[name], ref, atol=0.02 * np.abs(ref).max())
        again = runner({"input": x})                     # the simulator session is reused
        np.testing.assert_array_equal(again["boxes"], got["boxes"])


# --- bad input ---------------------------------------------------------------------------------------

def test_op_the_toolkit_rejects_is_named(tk, tiny, tmp_path):
    path = tmp_path / "nonzero.onnx"
    onnx.save(npu_models.with_nonzero(), str(path))
    with pytest.raises(ToolkitRejectedError, match=r"RKNN-Toolkit2 build failed: .*NonZero"):
        convert.convert(path, tmp_path / "n.rknn", Options(dtype="fp16"), toolkit=tk)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nonzero.onnx", tiny.name]
    # The worker survives a rejected model.
    assert convert.convert(tiny, tmp_path / "ok.rknn", Options(dtype="fp16"), toolkit=tk)["rknn_bytes"] > 0


def test_mismatched_calibration_is_refused_before_the_toolkit(tk, tiny, tmp_path):
    calib = tmp_path / "calib"
    calib.mkdir()
    np.save(calib / "a.npy", np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(CalibrationError, match=r"a.npy has shape \(1, 3, 32, 32\).*\(1, 3, 64, 64\)"):
        convert.convert(tiny, tmp_path / "x.rknn", Options(dtype="int8", calib=str(calib)), toolkit=tk)
    assert not (tmp_path / "x.rknn").exists() and not list(tmp_path.glob(".x.rknn*"))


# --- the CLI -----------------------------------------------------------------------------------------

def test_cli_convert_and_compare(tiny, tmp_path, capsys):
    assert main(["npu", "convert", str(tiny), "--dtype", "int8", "--calib", "3", "-o", str(tmp_path / "t.rknn")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "t.rknn.json").exists()
    assert main(["npu", "compare", str(tiny), "--dtype", "fp16", "--inputs", "1", "--json",
                 "--out", str(tmp_path / "res")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["dtype"] for r in report["rows"]] == ["fp32 CPU", "fp32 CPU", "fp16", "fp16"]
    assert (tmp_path / "res" / "npu_compare.md").exists()
    assert main(["npu", "compare", str(tiny), "--dtype", "fp8"]) == 2


# --- face pipeline stages on the NPU -------------------------------------------------------------

def test_pipeline_with_stages_on_the_npu(tk):
    """Detector and extractor on the NPU (fp16), fitter on the CPU, against the all-CPU pipeline.

    The zoo networks are untrained, so a small box shift moves the crops and with them the
    templates: template cosine is measured (and reported by `convlab npu pipeline`), not bounded
    here. Stage by stage, on the same recorded inputs, fp16 must be close."""
    from convlab.face.crosscheck import stage_diffs
    from convlab.face.models import build_pipeline
    from convlab.npu.pipeline import face_agreement, parse_stages, place
    cpu, mixed = build_pipeline(runner="onnxruntime"), build_pipeline(runner="onnxruntime")
    cpu_fitter = mixed.fitter.runner
    runners = place(mixed, parse_stages(["detector=npu:fp16", "extractor=npu:fp16", "fitter=cpu"]), tk)
    try:
        assert set(runners) == {"detector", "extractor"} and mixed.fitter.runner is cpu_fitter
        assert mixed.detector.runner is runners["detector"]
        agree = face_agreement(cpu.run("builtin:astronaut"), mixed.run("builtin:astronaut"))
        diffs = stage_diffs("builtin:astronaut", cpu, mixed)[0]
    finally:
        for r in runners.values():
            r.close()
    assert agree["faces_cpu"] > 0 and agree["detection_f1"] == 1.0 and agree["mean_iou"] > 0.95
    assert max(e["rel_error"] for e in agree["confidence_rel_error"]) < 0.01
    assert 0 <= agree["landmark_nme"] < 0.1 and -1 <= agree["template_cosine_min"] <= 1
    for stage in ("detector", "extractor"):
        assert diffs[stage].calls > 0 and diffs[stage].max_abs < 0.02 * diffs[stage].max_ref, diffs[stage]
    assert diffs["fitter"].max_abs == 0.0                       # the same CPU runner on both sides


def test_convlab_run_places_stages(capsys):
    """`convlab run --stage`: the fitter in the simulator, the extractor on convlab's numpy kernels,
    the detector on the pipeline's runner (--backend onnxruntime); --crosscheck feeds each stage's inputs to onnxruntime."""
    argv = ["run", "--demo", "--max-faces", "1", "--json", "--crosscheck", "--backend", "onnxruntime",
            "--stage", "fitter=npu:fp16", "extractor=cpu:numpy", "detector=cpu"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["faces"]) == 1
    diffs = {line.split()[0]: float(line.split("relative ")[1].split(")")[0])
             for line in captured.err.splitlines() if "call(s)" in line}
    assert diffs["detector"] == 0.0                       # onnxruntime on both sides
    assert 0 < diffs["fitter"] < 0.02                      # fp16 in the simulator: close, not equal
    assert 0 < diffs["extractor"] < 1e-4                   # convlab's fp32 kernels
