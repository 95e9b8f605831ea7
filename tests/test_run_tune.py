"""convlab-run --tune: a plan's conv layers timed with every C kernel that supports them, written as
a sweep results CSV that `convlab decide` turns into a decision table algo="auto" reads. Round trip
on the host (the detector: 29 distinct conv shapes, under a second); the aarch64 runner under
qemu-aarch64 writes a CSV decide accepts."""
from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import pytest

import convlab
from convlab import device, registry
from convlab.engine import Model
from convlab.engine.native import unavailable
from convlab.selection import STEM_MAX_C_IN, choose_algo_explained
from convlab.spec import ConvSpec
from convlab.sweep import store
from convlab.zoo import build_model

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"C extension not built: {unavailable()}")
CSRC = Path(__file__).resolve().parent.parent / "csrc"
QEMU, SYSROOT = "qemu-aarch64-static", "/usr/aarch64-linux-gnu"
SHAPE = ("k", "stride", "padding", "c_in", "c_out", "h", "w", "groups")


def _runner(target: str) -> Path:
    subprocess.run(["make", "-s", "-C", str(CSRC), "runner" if target == "host" else "runner-aarch64"], check=True,
                   capture_output=True)
    return CSRC / "build" / ("convlab-run" if target == "host" else "convlab-run-aarch64")


def _run(cmd, env=None, timeout=600):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def detector():
    return Model.load(build_model("detector", calibration_images=4).model)


def _by_shape(rows):
    out = defaultdict(dict)
    for r in rows:
        out[tuple(r[k] for k in SHAPE)][r["algo"]] = r
    return out


def _spec(shape):
    k, stride, padding, c_in, c_out, _, _, groups = shape
    return ConvSpec.build(c_in, c_out, k, k, stride=stride, padding=padding, groups=groups)


def test_tune_round_trips_through_decide_into_auto(detector, tmp_path, monkeypatch):
    import os
    from convlab.cli import main
    plan, out, table = tmp_path / "detector.clp", tmp_path / "tune.csv", tmp_path / "decision.json"
    plan.write_bytes(detector.executor.plan_bytes("host"))
    env = {k: v for k, v in os.environ.items() if k != "CONVLAB_DEVICE_ID"}
    r = _run([_runner("host"), plan, "--tune", "--repeat", 3, "--warmup", 1, "--out", out], env=env)
    assert r.returncode == 0, r.stderr
    assert "29 conv shapes" in r.stdout

    rows = store.read_rows(out)                      # the sweep reader takes it as it is
    meta = store.read_meta(out)
    assert meta["device_id"] == device.device_id_from(os.uname().machine, device.cpuinfo())
    assert meta["plan"] == "detector.clp" and meta["threads"] == 1 and meta["timing"]["repeats"] == 3
    assert len({store.row_key(r) for r in rows}) == len(rows), "a shape timed twice"
    assert all(r["status"] == "ok" and r["median_ms"] > 0 and r["samples"] == 3 and r["backend"] == "c"
               for r in rows)
    shapes = _by_shape(rows)
    assert len(shapes) == 29
    for shape, algos in shapes.items():
        # the candidates are exactly the C kernels the Python registry admits for the layer
        spec = _spec(shape)
        admitted = {e.algo for e in registry.entries("c", available_only=True) if e.supports(spec)}
        assert set(algos) == admitted, shape
        assert {r["op"] for r in algos.values()} == {"depthwise" if spec.is_depthwise else "conv"}

    assert main(["decide", str(out), "--out", str(table)]) == 0
    monkeypatch.setenv("CONVLAB_DECISION_TABLE", str(table))
    checked = 0
    for shape, algos in shapes.items():
        k, _, _, c_in, _, h, w, _ = shape
        if k > 1 and c_in <= STEM_MAX_C_IN:
            continue                                 # stem shapes: auto keeps its stem preference
        won = min(algos, key=lambda a: algos[a]["median_ms"])
        assert choose_algo_explained(_spec(shape), h, w, "c", 1) == (won, "exact"), shape
        checked += 1
    assert checked == 28
    # and through the public API: a tuned layer's auto plan is the CSV's winner
    shape, algos = next((s, a) for s, a in shapes.items() if s[0] == 3 and s[7] == 1 and s[3] > STEM_MAX_C_IN)
    k, stride, padding, c_in, c_out, h, w, groups = shape
    p = convlab.prepare_conv(np.zeros((c_out, c_in, k, k), np.float32), stride=stride, padding=padding,
                             input_hw=(h, w))
    assert p.algo == min(algos, key=lambda a: algos[a]["median_ms"]) and p.choice == "exact"


def test_compile_with_the_tuned_table_puts_each_layers_winner_in_the_plan(detector, tmp_path, capsys):
    """The board workflow's last step: `convlab compile --decision-table TUNED` (auto reads the tuned
    table) writes a plan whose conv layers run the kernels the tune CSV measured fastest."""
    import json
    from convlab import selection
    from convlab.cli import main
    plan, out, table = tmp_path / "detector.clp", tmp_path / "tune.csv", tmp_path / "decision.json"
    onnx_path = tmp_path / "detector.onnx"
    onnx.save(build_model("detector", calibration_images=4).model, onnx_path)   # seeded: the fixture's model
    plan.write_bytes(detector.executor.plan_bytes("host"))
    r = _run([_runner("host"), plan, "--tune", "--repeat", 3, "--warmup", 1, "--out", out])
    assert r.returncode == 0, r.stderr
    assert main(["decide", str(out), "--out", str(table)]) == 0
    winners = {shape: min(a, key=lambda k: a[k]["median_ms"]) for shape, a in _by_shape(store.read_rows(out)).items()}
    capsys.readouterr()
    try:
        assert main(["compile", str(onnx_path), "-o", str(tmp_path / "tuned.clp"), "--decision-table", str(table),
                     "--json"]) == 0
    finally:
        selection.set_table_path(None)
    kernels = json.loads(capsys.readouterr().out)["kernels"]
    picked = {}
    for step in detector.executor.steps:          # the same graph: layer name -> its tuned shape
        spec = step.spec
        if spec is None or step.node.name not in kernels:
            continue
        _, _, h, w = detector.graph.shapes[step.node.inputs[0]][0]
        shape = (spec.kh, spec.stride[0], spec.padding[0], spec.c_in, spec.c_out, h, w, spec.groups)
        picked[shape] = kernels[step.node.name].split("/")[0]
    checked = [s for s in picked if not (s[0] > 1 and s[3] <= STEM_MAX_C_IN)]
    assert len(checked) >= 20
    assert {s: picked[s] for s in checked} == {s: winners[s] for s in checked}


def test_tune_refuses_to_overwrite_and_bad_combinations(detector, tmp_path):
    plan, out = tmp_path / "d.clp", tmp_path / "t.csv"
    plan.write_bytes(detector.executor.plan_bytes("host"))
    out.write_text("x\n")
    exe = _runner("host")
    for args, message in (([plan, "--tune", "--out", out], "exists; --force"),
                          ([plan, "--tune", "--json"], "do not go with it"),
                          ([plan, "--out", out], "--out is the --tune CSV"),
                          ([plan, "--tune", "--out", tmp_path / "no" / "t.csv"], "cannot write there")):
        r = _run([exe] + args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr
    r = _run([exe, plan, "--tune", "--out", out, "--force", "--repeat", 1, "--warmup", 0])
    assert r.returncode == 0 and store.read_rows(out) and out.with_suffix(".json").is_file(), r.stderr
    from engine_util import make_model
    from onnx import helper
    relu = tmp_path / "relu.clp"
    relu.write_bytes(Model.load(make_model([helper.make_node("Relu", ["X"], ["Y"])], {"X": (1, 4)}, ["Y"]))
                     .executor.plan_bytes("host"))
    r = _run([exe, relu, "--tune", "--out", tmp_path / "none.csv"])
    assert r.returncode == 2 and "nothing to tune" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none.csv").exists()


@pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} not installed (make setup installs qemu-user-static)")
def test_aarch64_tune_under_qemu_writes_a_table_decide_accepts(detector, tmp_path):
    from convlab.cli import main
    plan, out, table = tmp_path / "detector.clp", tmp_path / "tune.csv", tmp_path / "decision.json"
    plan.write_bytes(detector.executor.plan_bytes("aarch64"))
    r = _run([QEMU, "-L", SYSROOT, _runner("aarch64"), plan, "--tune", "--repeat", 1, "--warmup", 0, "--out", out])
    assert r.returncode == 0, r.stderr
    rows = store.read_rows(out)
    assert store.read_meta(out)["target"] == "aarch64"
    assert len(_by_shape(rows)) == 29 and all(r["status"] == "ok" for r in rows)
    assert main(["decide", str(out), "--out", str(table)]) == 0
    assert len(convlab.selection.DecisionTable.load(table).exact) == 29
