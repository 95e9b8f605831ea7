"""`convlab profile`, `compare` and `optimize` end to end on small model files, and the per-layer
kernel choice (options, override files, fallbacks) they expose."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from convlab.cli import main
from convlab.engine import Model, ModelInputError

from engine_util import ort_run, rand
from test_engine_load import small_cnn


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "cnn.onnx"
    onnx.save(small_cnn(), path)
    return path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_profile_table_and_json(model_file, capsys):
    code, out, _ = run_cli(capsys, "profile", model_file, "--repeat", 2, "--warmup", 1)
    assert code == 0
    for text in ("conv1", "GFLOP/s", "activation arena", "fold_bn", "total"):
        assert text in out
    code, out, _ = run_cli(capsys, "profile", model_file, "--repeat", 2, "--json", "--passes", "none")
    data = json.loads(out)
    # One row per node, then the remainder: the rows add up to the total.
    assert [r["layer"] for r in data["layers"]] == ["conv1", "relu1", "pool1", "conv2", "gap", "flat", "fc", "(rest)"]
    conv1 = data["layers"][0]
    assert conv1["ms"] > 0 and conv1["flops"] == 2 * 8 * 16 * 16 * 27 and conv1["gflops"] > 0
    assert abs(sum(r["ms"] for r in data["layers"]) - data["total_ms"]) < 1e-9
    assert abs(sum(r["pct"] for r in data["layers"]) - 100) < 1e-6
    assert data["arena"]["peak_bytes"] < data["arena"]["no_reuse_bytes"]


def test_compare_json_and_given_input(model_file, tmp_path, capsys):
    x = rand(1, 3, 16, 16, seed=4)
    np.save(tmp_path / "x.npy", x)
    code, out, _ = run_cli(capsys, "compare", model_file, "--input", tmp_path / "x.npy", "--json", "--repeat", 2)
    assert code == 0
    data = json.loads(out)
    (o,) = data["outputs"]
    assert o["output"] == "y" and o["max_rel"] < 1e-5 and data["ratio"] > 0
    code, out, _ = run_cli(capsys, "compare", model_file, "--shape", "x=1,3,20,20", "--repeat", 1)
    assert code == 0 and "latency" in out and "1x5" in out


def test_compare_rejects_wrong_dtype_input(model_file, tmp_path, capsys):
    np.save(tmp_path / "x64.npy", rand(1, 3, 16, 16).astype(np.float64))
    code, _, err = run_cli(capsys, "compare", model_file, "--input", f"x={tmp_path / 'x64.npy'}")
    assert code == 2 and "must be float32, got float64" in err


def test_optimize_writes_runnable_onnx(model_file, tmp_path, capsys):
    out_path = tmp_path / "opt.onnx"
    code, out, _ = run_cli(capsys, "optimize", model_file, out_path, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["nodes_after"] <= data["nodes_before"] and data["check_max_rel_err"] < 1e-5
    x = {"x": rand(1, 3, 16, 16, seed=8)}
    np.testing.assert_allclose(ort_run(onnx.load(out_path), x)[0], ort_run(small_cnn(), x)[0], rtol=1e-5, atol=1e-5)
    code, out, _ = run_cli(capsys, "optimize", model_file, out_path, "--passes", "dead_nodes", "--force")
    assert code == 0 and "dead_nodes" in out


def test_cli_errors_are_clean(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x12\x34not a model")
    for cmd in ("profile", "compare"):
        code, _, err = run_cli(capsys, cmd, bad)
        assert code == 2 and err.startswith("convlab: error:") and "bad.onnx" in err
    code, _, err = run_cli(capsys, "optimize", bad, tmp_path / "o.onnx")
    assert code == 2


def test_kernel_options_overrides_and_fallbacks(tmp_path):
    x = {"x": rand(1, 3, 16, 16, seed=9)}
    ref = Model.load(small_cnn(), conv="reference", backend="numpy").run(x)["y"]
    # Depthwise everywhere: neither conv is depthwise, so both fall back and say why.
    m = Model.load(small_cnn(), conv="depthwise", backend="numba")
    assert all("asked depthwise/numba" in layer["note"] and "does not support" in layer["note"] for layer in m.layers())
    np.testing.assert_allclose(m.run(x)["y"], ref, rtol=1e-4, atol=1e-4)
    # A per-layer override file (YAML and JSON forms).
    yaml_file = tmp_path / "k.yaml"
    yaml_file.write_text("conv1: direct/numba\nconv2: {algo: reference, backend: numpy}\n")
    m = Model.load(small_cnn(), overrides=yaml_file)
    assert [(layer["kernel"], layer["note"]) for layer in m.layers()] == [("direct/numba", ""), ("reference/numpy", "")]
    np.testing.assert_allclose(m.run(x)["y"], ref, rtol=1e-4, atol=1e-4)
    json_file = tmp_path / "k.json"
    json_file.write_text(json.dumps({"conv9": "direct"}))
    with pytest.raises(ModelInputError, match=r"\['conv9'\].*conv layers: \['conv1', 'conv2'\]"):
        Model.load(small_cnn(), overrides=json_file)
    with pytest.raises(ModelInputError, match="unknown backend 'nmba'"):
        Model.load(small_cnn(), backend="nmba")
    with pytest.raises(ModelInputError, match="unknown conv algorithm 'winograd'"):
        Model.load(small_cnn(), conv="winograd")


def test_tune_picks_the_fastest_timed_kernel():
    x = {"x": rand(1, 3, 16, 16, seed=9)}
    ref = Model.load(small_cnn(), conv="reference", backend="numpy").run(x)["y"]
    m = Model.load(small_cnn(), conv="tune", backend="all")
    for step in (s for s in m.executor.steps if s.spec is not None):
        assert step.kernel in step.timings and step.timings[step.kernel] == min(step.timings.values())
        assert not step.note
    np.testing.assert_allclose(m.run(x)["y"], ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(ModelInputError, match="unknown backend 'all'"):
        Model.load(small_cnn(), conv="auto", backend="all")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_profile_saves_the_kernel_choices_as_an_overrides_file(model_file, tmp_path, capsys, suffix):
    saved = tmp_path / f"kernels{suffix}"
    code, _, _ = run_cli(capsys, "profile", model_file, "--conv", "direct", "--repeat", 1, "--save-overrides", saved)
    assert code == 0
    m = Model.load(model_file, overrides=saved)
    assert m.kernel_overrides() == {"conv1": "direct/c", "conv2": "direct/c"}   # the CLI default backend
