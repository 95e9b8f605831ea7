"""`convlab npu study --quick`: the trained MTCNN O-Net through the RKNN simulator (the cached rknn venv,
`make rknn`) in fp16 / int8 / both hybrids against fp32 on the CPU. Skipped, saying why, only when the
rknn venv or the trained models are not installed (`make setup` installs both); ~1 minute."""
from __future__ import annotations

import json

import pytest

from convlab import realmodels
from convlab.cli import main
from convlab.npu import study, toolkit


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    try:
        toolkit.python_path()
    except toolkit.ToolkitUnavailableError as e:
        pytest.skip(f"the RKNN venv is missing (make setup installs it): {e}")
    missing = [n for n in filter(None, (study.DETECTOR, study.FITTER, study.trained_extractor()))
               if not (realmodels.cache_dir() / f"{n}.onnx").is_file()]
    if missing:
        pytest.skip(f"trained models {missing} are not cached (make setup fetches them)")
    out = tmp_path_factory.mktemp("npu_study")
    assert main(["npu", "study", "--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "npu_real.json").read_text()), (out / "npu_real.md").read_text()


def test_quick_study_report_structure(quick_report):
    out, report, md = quick_report
    assert report["quick"] and report["where"] == study.SIM and report["toolkit"]["toolkit"] == "2.5.0"
    assert set(report["stages"]) == {"fitter"}
    fitter = report["stages"]["fitter"]
    assert fitter["trained"] and fitter["inputs"] > 0
    assert list(fitter["variants"]) == [v.key for v in study.VARIANTS]
    for key, v in fitter["variants"].items():
        assert v["rknn_bytes"] > 0 and v["simulator_seconds_per_image"] > 0
        assert set(v["output_cosine_min"]) == {"dense_5", "dense_6", "softmax_2"}
        assert set(fitter["agreement"][key]["by_size"]) == set(study.metrics.size_labels())
    assert fitter["variants"]["int8"]["worst_int8_layers"]
    assert len(fitter["variants"]["hybrid_worst"]["fp16_layers"]) == report["worst_k"]
    # The fp32 reference is convlab's engine, checked against onnxruntime.
    assert all(x["cosine"] > 0.99999 for x in fitter["cpu_vs_onnxruntime"].values())
    assert [s["source"] for s in report["seeds"]][:1] and all("convlab" in s for s in report["seeds"])
    assert "simulator" in report["finding"] and "trained" in report["finding"]
    for text in ("simulator on an x86 host", "(trained)", "## The seeds' figures beside convlab's", "## Finding"):
        assert text in md


def test_quick_study_fp16_agrees_with_fp32(quick_report):
    fitter = quick_report[1]["stages"]["fitter"]
    assert min(fitter["variants"]["fp16"]["output_cosine_min"].values()) > 0.99
    assert fitter["agreement"]["fp16"]["landmark_nme"]["max"] < 0.02
    # int8 moves the points more than fp16 does (it is the quantized one).
    assert fitter["agreement"]["int8"]["landmark_nme"]["mean"] > fitter["agreement"]["fp16"]["landmark_nme"]["mean"]


def test_study_output_is_not_overwritten_without_force(quick_report, capsys):
    out = quick_report[0]
    assert main(["npu", "study", "--quick", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
