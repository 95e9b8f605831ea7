"""Issue 14, the user's side: output apart from shipped data, one default backend, auto without
per-call cost or extrapolation, honest reports, clean interruption."""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convlab
from convlab import api, fileio, paths, registry, selection
from convlab.cli import build_parser, main
from convlab.spec import ConvSpec
from convlab.sweep import decide, store

REPO = Path(__file__).resolve().parents[1]
DEVICE = "x86_64-amd-epyc-avx512"
SHIPPED = REPO / "results" / DEVICE
SRC = str(REPO / "src")


def _cli(*argv, cwd=None, env=None, **kw):
    e = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
    return subprocess.run([sys.executable, "-m", "convlab", *argv], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=600, **kw)


def _tiny_rows():
    rows = []
    for c in (16, 32):
        for w in (8, 16):
            for algo, t in (("direct", 1.0), ("im2col", 0.5)):
                rows.append(dict(op="conv", k=3, stride=1, padding=1, c_in=c, c_out=c, h=w, w=w, groups=1, batch=1,
                                 threads=1, algo=algo, backend="c", status="ok", reason="", median_ms=t * c * w))
    return rows


# -- 1. output apart from shipped data ------------------------------------------------------------

def test_decide_never_writes_over_the_shipped_table(tmp_path):
    shipped = SHIPPED / "decision.json"
    before = shipped.read_bytes()
    csv = tmp_path / "tiny.csv"
    fileio.atomic_write(csv, store.rows_to_csv(_tiny_rows()))
    # from the repository's root, ./results/<device-id>/decision.json *is* the shipped table: refused
    r = _cli("decide", str(csv), cwd=REPO)
    assert r.returncode == 2 and "shipped" in r.stderr, r.stderr
    r = _cli("decide", str(csv), "--out", str(shipped), "--force", cwd=REPO)
    assert r.returncode == 2 and "shipped" in r.stderr, r.stderr
    assert shipped.read_bytes() == before
    # from elsewhere it goes to ./results/<device-id>/ of the working directory
    r = _cli("decide", str(csv), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    mine = tmp_path / "results" / selection_device() / "decision.json"
    assert json.loads(mine.read_text())["entries"]
    # ... and is not overwritten without --force
    r = _cli("decide", str(csv), cwd=tmp_path)
    assert r.returncode == 2 and "--force" in r.stderr
    assert _cli("decide", str(csv), "--force", cwd=tmp_path).returncode == 0


def selection_device():
    from convlab.device import device_id
    return device_id()


def test_decide_refuses_to_overwrite_its_input(tmp_path):
    csv = tmp_path / "tiny.csv"
    fileio.atomic_write(csv, store.rows_to_csv(_tiny_rows()))
    r = _cli("decide", str(csv), "--out", str(csv), "--force", cwd=tmp_path)
    assert r.returncode == 2 and "also an input" in r.stderr
    assert "k,stride" in csv.read_text() or csv.read_text().startswith("op")


def test_auto_reads_the_shipped_table_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.DECISION_TABLE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(selection, "_explicit", None)
    assert selection.table_path() == paths.shipped_decision_table()
    other = tmp_path / "t.json"
    fileio.write_json(other, decide.build(_tiny_rows(), "dev", ["x"]))
    monkeypatch.setenv(paths.DECISION_TABLE_ENV, str(other))
    assert selection.table_path() == other
    selection.set_table_path(str(other))
    try:
        assert selection.table_path() == other
        with pytest.raises(convlab.ConvlabError, match="no such file"):
            selection.set_table_path(str(tmp_path / "missing.json"))
    finally:
        selection.set_table_path(None)


def test_optimize_refuses_to_overwrite_its_input(tmp_path):
    m = tmp_path / "m.onnx"
    _tiny_model(m)
    before = m.read_bytes()
    r = _cli("optimize", str(m), str(m))
    assert r.returncode == 2 and "also an input" in r.stderr, r.stderr
    assert m.read_bytes() == before
    out = tmp_path / "o.onnx"
    out.write_bytes(b"x")
    r = _cli("optimize", str(m), str(out), "--no-check", "--shape", "x=1,3,8,8")
    assert r.returncode == 2 and "--force" in r.stderr
    r = _cli("optimize", str(m), str(out), "--no-check", "--shape", "x=1,3,8,8", "--force")
    assert r.returncode == 0, r.stderr


def _tiny_model(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]),
                           helper.make_node("Relu", ["y"], ["z"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))


def test_no_default_output_folder_is_computed_from_the_package():
    from convlab.studies.output import out_dir
    from convlab.sweep.runner import default_out_dir
    cwd = Path.cwd()
    assert default_out_dir() == cwd / "results" / selection_device()
    assert out_dir(None) == cwd / "results" / selection_device()
    offenders = []
    for p in (REPO / "src" / "convlab").rglob("*.py"):
        text = p.read_text()
        if p.name in ("paths.py", "device.py"):     # where the shipped (read-only) folders are defined
            continue
        if re.search(r"parents\[\d\]\s*/\s*\"results\"", text) or "RESULTS_DIR /" in text:
            offenders.append(str(p.relative_to(REPO)))
    assert not offenders, offenders


# -- 2. one default backend -----------------------------------------------------------------------

def test_one_default_backend_everywhere():
    assert registry.DEFAULT_BACKEND == "c"
    assert registry.default_backend() == "c"          # the extension is built for the tests
    w = np.ones((8, 8, 3, 3), np.float32)
    assert convlab.prepare_conv(w, padding=1, input_hw=(16, 16)).backend == "c"
    assert convlab.prepare_conv(w, padding=1).backend == "c"
    parser = build_parser()
    seen = {}

    def walk(p, name):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for k, sub in a.choices.items():
                    walk(sub, f"{name} {k}".strip())
            elif a.dest in ("backend", "cpu_backend"):
                seen[name] = a.default
    walk(parser, "")
    for cmd in ("profile", "compare", "bench conv", "npu compare", "npu bench", "run", "verify", "gallery enroll",
                "gallery identify"):
        assert cmd in seen, cmd
        assert seen[cmd] is None, f"{cmd} has its own --backend default {seen[cmd]!r}"
    from convlab.face.runners import engine_options
    assert engine_options(None)[1]["backend"] == "c"


def test_default_backend_falls_back_with_a_note(monkeypatch, capsys):
    monkeypatch.setattr(registry, "_noted", False)
    monkeypatch.setattr(registry, "DEFAULT_BACKEND", "nosuch")
    assert registry.default_backend() == "numba"
    assert registry.default_backend() == "numba"
    assert capsys.readouterr().err.count("note:") == 1


def test_every_help_shows_defaults_and_no_measured_figures():
    parser = build_parser()
    missing, figures, undocumented = [], [], []

    def walk(p, name):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for k, sub in a.choices.items():
                    walk(sub, f"{name} {k}")
                continue
            if isinstance(a, (argparse._HelpAction, argparse._VersionAction)):
                continue
            h = a.help or ""
            if not h or h.startswith("(default"):
                undocumented.append(f"{name} {a.option_strings or a.dest}")
            if not a.option_strings:
                continue
            if a.default not in (None, False, [], argparse.SUPPRESS) and "default" not in h.lower():
                missing.append(f"{name} {a.option_strings[0]}")
            if re.search(r"\b0\.9\d{2,}|\d+\.\d+ ?ms\b|cosine \d", h):
                figures.append(f"{name} {a.option_strings[0]}: {h}")
    walk(parser, "convlab")
    assert not missing, missing
    assert not figures, figures
    assert not undocumented, undocumented
    assert "default: 10" in parser._subparsers._group_actions[0].choices["profile"].format_help()


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"convlab {convlab.__version__}"


# -- 3. auto: no per-call cost, no extrapolation --------------------------------------------------

def test_auto_plan_chooses_once_per_input_size(monkeypatch):
    calls = []
    real = api.choose_algo
    monkeypatch.setattr(api, "choose_algo", lambda *a, **k: calls.append(a[1:3]) or real(*a, **k))
    w = np.ones((8, 8, 3, 3), np.float32)
    plan = convlab.prepare_conv(w, padding=1)
    x = np.ones((1, 8, 16, 16), np.float32)
    for _ in range(5):
        plan(x)
    plan(np.ones((2, 8, 16, 16), np.float32))
    plan(np.ones((1, 8, 12, 16), np.float32))
    plan(np.ones((1, 8, 12, 16), np.float32))
    assert calls == [(16, 16), (12, 16)]
    with pytest.raises(convlab.ConvInputError):
        plan(np.ones((1, 7, 16, 16), np.float32))       # the cached path still checks the input


def _shipped_table():
    return selection.DecisionTable.load(SHIPPED / "decision.json")


@pytest.mark.parametrize("hw", [(4, 5), (5, 4), (2, 2), (6, 7)])
def test_tiny_maps_never_go_to_winograd(hw):
    t = _shipped_table()
    for c_out in (6, 12, 64):
        spec = ConvSpec.build(64, c_out, 3, 3, padding=1)
        for backend in ("c", "numba"):
            got = t.choose(spec, *hw, backend, 1, exact=False)
            assert got is None or not got[0].startswith("winograd"), (hw, c_out, backend, got)
            assert not selection.choose_algo(spec, *hw, backend).startswith("winograd")


def test_rules_are_not_applied_outside_their_learned_ranges():
    table = decide.build(_tiny_rows(), "dev", ["x"])
    r = next(r for r in table["rules"] if r["family"] == "3x3 s1")
    assert r["ranges"] == {"c_in": [16, 32], "c_out": [16, 32], "w": [8, 16], "h": [8, 16]}
    # make the rules say winograd everywhere: inside the ranges they are obeyed, outside the nearest
    # measured shape's winner is used instead
    r["tree"] = {"algo": "winograd_f23"}
    t = selection.DecisionTable(table)
    assert t.choose(ConvSpec.build(24, 24, 3, 3, padding=1), 12, 12, "c", exact=False) == ("winograd_f23", "rules")
    assert t.choose(ConvSpec.build(12, 12, 3, 3, padding=1), 150, 150, "c", exact=False) == ("im2col", "neighbour")
    assert t.choose(ConvSpec.build(16, 16, 3, 3, padding=1), 8, 40, "c", exact=False) == ("im2col", "neighbour")


def test_shipped_table_records_its_ranges_and_heldout_regret_is_within_bounds():
    t = json.loads((SHIPPED / "decision.json").read_text())
    assert all("ranges" in r for r in t["rules"])
    ev = decide.evaluate(t, store.read_rows(SHIPPED / "heldout_regret.csv"))
    assert ev["shapes"] >= 60
    assert ev["auto"]["geomean"] <= 1.10 and ev["auto"]["worst"] <= 1.5, ev["auto"]


# -- 5. interruption and pipes --------------------------------------------------------------------

def _with_func(monkeypatch, exc):
    def boom(args):
        raise exc
    import convlab.cli.results as results_cli
    real = results_cli.register

    def register(sub):
        real(sub)
        for p in sub.choices.values():
            p.set_defaults(func=boom)
    monkeypatch.setattr(results_cli, "register", register)


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    _with_func(monkeypatch, KeyboardInterrupt())
    assert main(["table", "x.csv"]) == 130
    err = capsys.readouterr().err
    assert err == "convlab: interrupted\n"


def test_broken_pipe_exits_141_with_one_line(monkeypatch, capsys):
    _with_func(monkeypatch, BrokenPipeError())
    monkeypatch.setattr("os.dup2", lambda *a: None)
    assert main(["table", "x.csv"]) == 141
    assert capsys.readouterr().err == "convlab: output closed (broken pipe)\n"


def test_json_piped_into_head_is_clean(tmp_path):
    # a command with a lot of JSON on stdout whose reader stops after one line
    cmd = (f"{sys.executable} -m convlab decide --table {SHIPPED / 'decision.json'} --evaluate "
           f"{SHIPPED / 'heldout_regret.csv'} | head -1; echo \"rc=${{PIPESTATUS[0]}}\"")
    env = dict(os.environ, PYTHONPATH=SRC)
    r = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    assert re.search(r"rc=(0|141)\b", r.stdout), r.stdout


# -- 4. honest reports ----------------------------------------------------------------------------

def test_simulator_time_is_never_in_a_budget_verdict(capsys):
    from types import SimpleNamespace

    from convlab.cli.face import print_result
    from convlab.face.budgets import verdicts
    from convlab.face.pipeline import Face, FacePipeline, Result
    stages = {"load": 1.0, "detector": 30.0, "fitter": 1.0, "align": 0.5, "extractor": 20.0, "compare": 0.01}
    v = verdicts(stages, 1, simulated=("detector",))
    assert v["detector+fitter"]["pass"] is None and v["detector+fitter"]["simulated"]
    assert v["extraction+comparison"]["pass"] is True and "simulated" not in v["extraction+comparison"]
    assert verdicts(stages, 1)["detector+fitter"]["pass"] is True
    # the pipeline knows which of its stages ran on a simulator
    npu = SimpleNamespace(runner=SimpleNamespace(simulated=True))
    cpu = SimpleNamespace(runner=SimpleNamespace())
    fake = SimpleNamespace(detector=npu, fitter=None, extractor=cpu)
    assert FacePipeline.simulated_stages(fake) == ("detector",)
    from convlab.npu.runner import NpuRunner
    assert NpuRunner.simulated
    face = Face(np.array([0, 0, 10, 10], np.float32), 0.9, np.zeros((5, 2), np.float32))
    res = Result([face], stages, np.zeros((20, 20, 3), np.uint8), cpu_stages=dict(stages), simulated=("detector",))
    print_result(res, backend="c, detector=npu:int8", threads=1)
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("detector+fitter"))
    assert "PASS" not in line and "FAIL" not in line and "sim." in line, out
    assert "RKNN simulator time" in out
    assert res.to_json()["budgets"]["detector+fitter"]["pass"] is None
    assert res.to_json()["simulated_stages"] == ["detector"]


def test_one_thread_cpu_time_is_the_calling_threads():
    """Process CPU time counts every thread (e.g. OpenMP workers spin-waiting after a parallel call), so
    a 1-thread CPU column can exceed its wall time; the calling thread's CPU time cannot."""
    import hashlib
    import threading

    from convlab.bench.timing import time_interleaved
    from convlab.studies import nms as nms_study
    stop = threading.Event()
    buf = b"x" * (1 << 20)

    def burn():                      # another thread of this process using a core (hashlib drops the GIL)
        while not stop.is_set():
            hashlib.sha256(buf).digest()
    th = threading.Thread(target=burn, daemon=True)
    th.start()
    try:
        t = time_interleaved({"one": lambda: sum(range(20000))}, repeats=5, max_time=2.0)["one"]
    finally:
        stop.set()
        th.join()
    assert t.thread_cpu_median <= t.median
    assert nms_study._cpu(t, 1) == t.thread_cpu_median and nms_study._cpu(t, 2) == t.cpu_median


# -- 5. progress ----------------------------------------------------------------------------------

def test_long_commands_show_a_progress_bar_with_eta(monkeypatch, capsys):
    from convlab import progress
    monkeypatch.setattr(progress, "enabled", lambda: True)
    assert main(["bench", "conv", "--shape", "4,4,8,8,3,1", "--peers", "none", "--algo", "im2col",
                 "--min-time", "0", "--max-time", "0.2", "--repeats", "3"]) == 0
    err = capsys.readouterr().err
    assert "timing" in err and "round" in err and "<" in err        # tqdm's [elapsed<remaining]
    monkeypatch.setattr(progress, "enabled", lambda: False)
    assert main(["bench", "conv", "--shape", "4,4,8,8,3,1", "--peers", "none", "--algo", "im2col",
                 "--min-time", "0", "--max-time", "0.2", "--repeats", "3"]) == 0
    assert "round" not in capsys.readouterr().err


def test_gallery_option_order_and_no_lock_file_from_list(tmp_path, capsys):
    parser = build_parser()
    g = tmp_path / "g.json"
    a = parser.parse_args(["gallery", "identify", "img.png", "--gallery", str(g)])
    assert a.gallery == str(g) and a.image == "img.png"
    a = parser.parse_args(["gallery", "--gallery", str(g), "identify", "img.png"])
    assert a.gallery == str(g)
    assert parser.parse_args(["gallery", "list"]).gallery == "convlab_gallery.json"
    assert main(["gallery", "list", "--gallery", str(g)]) == 0
    assert "0 name(s)" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_save_vis_folder_is_checked_before_the_run(tmp_path, monkeypatch, capsys):
    import convlab.cli.face as face_cli

    def never(*a, **k):
        raise AssertionError("the pipeline ran before the argument check")
    monkeypatch.setattr(face_cli, "placed_pipeline", never)
    assert main(["run", "--demo", "--save-vis", str(tmp_path / "nodir" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- 6. dynamic dims from --input, declared dependencies ------------------------------------------

@pytest.mark.parametrize("cmd", ["compare", "profile"])
def test_input_array_fixes_the_dynamic_dims_batch_included(tmp_path, capsys, cmd):
    m = tmp_path / "m.onnx"
    _tiny_model(m)                      # input x: [N, 3, H, W]
    x = np.random.default_rng(0).standard_normal((2, 3, 10, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    argv = [cmd, str(m), "--input", str(tmp_path / "x.npy"), "--json", "--repeat", "1"]
    if cmd == "profile":
        argv += ["--warmup", "0"]
    assert main(argv) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    if cmd == "compare":
        assert out["outputs"][0]["shape"] == [2, 4, 10, 12] and out["outputs"][0]["max_rel"] < 1e-5
    else:
        assert list(out["inputs"]["x"][0]) == [2, 3, 10, 12]


def test_default_commands_dependencies_are_declared():
    import tomllib
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ \[]", d, 1)[0].lower() for d in deps}
    assert {"scikit-image", "threadpoolctl"} <= names


def test_ctrl_c_in_a_real_run_exits_130_without_a_traceback(tmp_path):
    import signal
    import time
    env = dict(os.environ, PYTHONPATH=SRC, CONVLAB_NO_PROGRESS="1")
    p = subprocess.Popen([sys.executable, "-m", "convlab", "bench", "conv", "--shape", "32,32,32,32,3,1",
                          "--peers", "none", "--algo", "im2col", "--min-time", "120", "--max-time", "120"],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "convlab: interrupted" and "Traceback" not in err, err


def test_profile_says_where_each_auto_choice_came_from(tmp_path, capsys):
    m = tmp_path / "m.onnx"
    _tiny_model(m)
    assert main(["profile", str(m), "--shape", "x=1,3,8,8", "--repeat", "1", "--warmup", "0", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["auto_choice"] and set(doc["auto_choice"].values()) <= {"exact", "rules", "neighbour", "builtin"}
    w = np.ones((8, 8, 3, 3), np.float32)
    assert convlab.prepare_conv(w, padding=1, input_hw=(16, 16)).choice in {"exact", "rules", "neighbour", "builtin"}
    assert convlab.prepare_conv(w, padding=1, algo="im2col").choice is None
    assert main(["profile", str(m), "--shape", "x=1,3,8,8", "--repeat", "1", "--warmup", "0"]) == 0
    assert "algo=auto chose 1 conv layer(s)" in capsys.readouterr().out


def test_plot_of_shipped_results_goes_to_the_working_directory(tmp_path, monkeypatch, capsys):
    shipped = SHIPPED / "line2019_1x1_direct_vs_gemm.csv"
    before = {p.name: p.stat().st_mtime_ns for p in SHIPPED.glob("*.png")}
    monkeypatch.chdir(tmp_path)
    assert main(["plot", str(shipped)]) == 0
    pngs = capsys.readouterr().out.split()
    assert pngs and all(Path(p).parent == tmp_path / "results" / selection_device() for p in pngs)
    assert main(["plot", str(shipped)]) == 2
    assert "--force" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in SHIPPED.glob("*.png")} == before


def test_ctrl_c_in_a_sweep_says_how_to_resume(tmp_path, monkeypatch, capsys):
    import convlab.sweep.runner as runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "run_sweep", interrupted)
    spec = next((REPO / "experiments" / "sweeps").glob("*.yaml"))
    assert main(["sweep", str(spec), "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convlab: interrupted: ") and "--resume" in err


def test_zoo_export_does_not_overwrite_without_force(tmp_path, capsys):
    (tmp_path / "fitter.onnx").write_bytes(b"mine")
    assert main(["zoo", "export", str(tmp_path), "--models", "fitter"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "fitter.onnx").read_bytes() == b"mine"
