"""Sweep specs, atomic result files, resume after SIGKILL, shards and merge (tiny grids, fast)."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from convlab import fileio
from convlab.sweep import grid, store
from convlab.sweep.grid import SweepSpecError, load, parse
from convlab.sweep.runner import my_groups, parse_shard, planned_keys, run_sweep
from convlab.errors import ConvlabError

TINY = dict(name="tiny", grid=dict(kernel=[1, 3], channels=[2, 4], size=[5, 7]), threads=[1, 2],
            algos=["reference"], backends=["numpy"], peers=["onnxruntime"],
            timing=dict(warmup=1, min_repeats=3, max_seconds=0.02))


# The `convlab sweep` command alone (the full CLI also loads every other command group).
CLI = ("import argparse, sys; from convlab.cli import sweep; p = argparse.ArgumentParser(); "
       "sweep.register(p.add_subparsers()); a = p.parse_args(); sys.exit(a.func(a))")


def test_grid_expands_in_seed_order():
    spec = parse(TINY)
    assert len(spec.shapes) == 8 and len(spec.groups()) == 16
    # channels vary fastest, then kernel, then size: the seed tables' W H C order
    assert [(s.h, s.k, s.c_in) for s in spec.shapes[:4]] == [(5, 1, 2), (5, 1, 4), (5, 3, 2), (5, 3, 4)]
    assert all(s.padding == s.k // 2 for s in spec.shapes)


def test_ops_and_depthwise_groups():
    spec = parse(dict(name="dw", grid=dict(op=["conv", "depthwise", "dwsep"], kernel=3, channels=8, size=6)))
    assert [(s.op, s.groups) for s in spec.shapes] == [("conv", 1), ("depthwise", 8), ("dwsep", 8)]
    assert len(spec.groups()) == 1, "the ops of one cell are timed together"


def test_yaml_and_toml_load_alike(tmp_path):
    y = tmp_path / "a.yaml"
    y.write_text("name: a\ngrid: {kernel: 3, c_in: [4], c_out: [8, 16], h: 6, w: [6, 9]}\n")
    t = tmp_path / "a.toml"
    t.write_text('name = "a"\n[grid]\nkernel = 3\nc_in = [4]\nc_out = [8, 16]\nh = 6\nw = [6, 9]\n')
    assert load(y).shapes == load(t).shapes and len(load(y).shapes) == 4


def test_presets_parse():
    presets = sorted(Path(__file__).resolve().parents[1].joinpath("experiments", "sweeps").glob("*.yaml"))
    assert presets, "no presets in experiments/sweeps"
    for p in presets:
        if "zoo" not in p.name:
            assert load(p).shapes, p


@pytest.mark.parametrize("raw, message", [
    ([1, 2], "top level must be a mapping"),
    (dict(grid=dict(kernel=3, channels=4, size=4)), "'name' must be"),
    (dict(name="x"), "needs at least one of 'grid'"),
    (dict(name="x", grid=dict(kernel=3, channels=4, size=4), thread=[1]), "unknown key thread"),
    (dict(name="x", grid=dict(kernel=3, channel=4, size=4)), "unknown key grid.channel"),
    (dict(name="x", grid=dict(kernel=3, channels=4, c_in=4, size=4)), "both 'channels' and 'c_in'"),
    (dict(name="x", grid=dict(kernel=3, size=4)), "needs 'channels'"),
    (dict(name="x", grid=dict(kernel=3, channels=4)), "needs 'size'"),
    (dict(name="x", grid=dict(channels=4, size=4)), "needs 'kernel'"),
    (dict(name="x", grid=dict(kernel=0, channels=4, size=4)), "grid.kernel must be a positive integer, got 0"),
    (dict(name="x", grid=dict(kernel=3, channels=[], size=4)), "'grid.channels' is an empty list"),
    (dict(name="x", grid=dict(kernel=3, channels=4, size=4, op="winograd")), "unknown op 'winograd'"),
    (dict(name="x", grid=dict(kernel=3, channels=6, size=4, groups=4)), "groups=4 must divide"),
    (dict(name="x", grid=dict(kernel=7, channels=4, size=2, padding=0)), "smaller than the 7x7 kernel"),
    (dict(name="x", grid=dict(kernel=3, channels=4, size=4), peers=["tvm"]), "unknown peer 'tvm'"),
    (dict(name="x", grid=dict(kernel=3, channels=4, size=4), timing=dict(max_seconds=-1)), "timing.max_seconds"),
    (dict(name="x", grid=dict(kernel=3, channels=4, size=4), threads=[0]), "threads must be a positive"),
    (dict(name="x", shapes=[dict(kernel=3, c_in=4, h=4, w=4)]), "shapes[0] lacks c_out"),
    (dict(name="x", grid=dict(kernel=3, channels=[4, 4], size=4)), "the same shape appears twice"),
])
def test_bad_specs_are_named(raw, message):
    with pytest.raises(SweepSpecError, match="sweep spec .*" + _re(message)):
        parse(raw)


def _re(s):
    import re
    return re.escape(s)


def test_bad_files(tmp_path):
    with pytest.raises(SweepSpecError, match="no such file"):
        load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SweepSpecError, match="not valid YAML: line 2, column 1: ") as info:
        load(bad)
    assert "\n" not in str(info.value)   # the CLI prints it as one line


def test_sweep_rows_statuses_and_metadata(tmp_path):
    spec = parse(dict(TINY, peers=["onnxruntime", "ncnn"], threads=[1]))
    path = run_sweep(spec, tmp_path, progress=False)
    rows = store.read_rows(path)
    assert len(rows) == 8 * 3
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["backend"] for r in ok} >= {"numpy", "onnxruntime"}
    assert all(r["median_ms"] > 0 and r["q1_ms"] <= r["median_ms"] <= r["q3_ms"] and r["samples"] >= 1 for r in ok)
    for r in rows:
        if r["status"] != "ok":
            assert r["reason"] and r["median_ms"] is None
    meta = store.read_meta(path)
    assert meta["complete"] and meta["fingerprint"] == spec.fingerprint() and meta["device_id"]
    assert "shared host" in meta["noise"] and meta["machine"]["cpu"] and meta["machine"]["versions"]["numpy"]
    with pytest.raises(ConvlabError, match="--resume"):
        run_sweep(spec, tmp_path, progress=False)


def test_unsupported_rows_name_the_constraint(tmp_path):
    from convlab import registry
    from convlab.registry import Constraints, KernelEntry, pairs
    from convlab.kernels.reference import _prepare
    key = ("reference3x3", "numpy")
    registry.register(KernelEntry(*key, _prepare, Constraints(kernel_sizes=pairs(3)), "3x3 only test kernel"))
    try:
        spec = parse(dict(TINY, algos=["reference3x3"], peers=[], threads=[1]))
        rows = store.read_rows(run_sweep(spec, tmp_path, progress=False))
    finally:
        del registry._REGISTRY[key]
    by_k = {r["k"]: r for r in rows}
    assert by_k[3]["status"] == "ok"
    assert by_k[1]["status"] == "unsupported" and "kernel_size" in by_k[1]["reason"]


def test_budget_skips_big_shapes(tmp_path):
    spec = parse(dict(TINY, threads=[1], budget=dict(max_gflop=1e-6)))
    rows = store.read_rows(run_sweep(spec, tmp_path, progress=False))
    assert {r["status"] for r in rows if r["k"] == 3} == {"skipped"}


def test_resume_after_sigkill_loses_nothing_and_measures_nothing_twice(tmp_path):
    spec_file = tmp_path / "slow.yaml"
    # target precision unreachable -> every candidate runs to its time cap: slow enough to kill mid-way
    spec_file.write_text(textwrap.dedent("""\
        name: slow
        grid: {kernel: [1, 3], channels: [2, 4], size: [5, 7]}
        threads: [1]
        algos: [reference]
        backends: [numpy]
        peers: [onnxruntime]
        timing: {warmup: 1, min_repeats: 3, target_rel_precision: 1.0e-9, max_seconds: 0.15}
        """))
    out = tmp_path / "out"
    csv = out / "slow.csv"
    proc = subprocess.Popen([sys.executable, "-c", CLI, "sweep", str(spec_file), "--out", str(out), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if csv.exists() and len(store.read_rows(csv)) >= 4:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read().decode()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = store.read_rows(csv)
    spec = load(spec_file)
    total = sum(len(planned_keys(spec, g)) for g in spec.groups())
    assert 4 <= len(before) < total, "the kill should land mid-sweep"
    run_sweep(spec, out, resume=True, progress=False)
    after = store.read_rows(csv)
    keys = [store.row_key(r) for r in after]
    assert len(keys) == len(set(keys)) == total, "a row is missing or measured twice"
    after_by_key = {store.row_key(r): r for r in after}
    for r in before:
        assert after_by_key[store.row_key(r)] == r, "a row measured before the kill changed on resume"
    assert len(store.read_meta(csv)["sessions"]) == 1 and store.read_meta(csv)["complete"]


def test_shards_partition_the_grid_and_merge_back(tmp_path):
    spec = parse(TINY)
    parts = [my_groups(spec, (i, 3)) for i in (1, 2, 3)]
    keys = [g.key() for p in parts for g in p]
    assert sorted(keys) == sorted(g.key() for g in spec.groups()) and len(keys) == len(set(keys))
    assert parts == [my_groups(spec, (i, 3)) for i in (1, 2, 3)], "shards must be deterministic"
    paths = [run_sweep(spec, tmp_path, shard=(i, 3), progress=False) for i in (1, 2, 3)]
    assert [p.name for p in paths] == [f"tiny.shard-{i}-of-3.csv" for i in (1, 2, 3)]
    merged = tmp_path / "tiny.csv"
    info = store.merge(paths, merged)
    rows = store.read_rows(merged)
    assert info["rows"] == len(rows) == sum(len(planned_keys(spec, g)) for g in spec.groups())
    assert store.read_meta(merged)["fingerprint"] == spec.fingerprint()
    # the same shard twice: identical duplicates, dropped and counted
    assert store.merge([paths[0], paths[0]], tmp_path / "dup.csv")["duplicates"] == len(store.read_rows(paths[0]))


def test_merge_refuses_conflicts_and_foreign_shards(tmp_path):
    spec = parse(dict(TINY, threads=[1]))
    a = run_sweep(spec, tmp_path / "a", shard=(1, 2), progress=False)
    rows = store.read_rows(a)
    rows[0]["median_ms"] *= 2
    b = tmp_path / "b" / a.name
    fileio.atomic_write(b, store.rows_to_csv(rows))
    b.with_suffix(".json").write_text(a.with_suffix(".json").read_text())
    with pytest.raises(store.ResultsError, match="1 conflicting row"):
        store.merge([a, b], tmp_path / "m.csv")
    other = run_sweep(parse(dict(TINY, name="other", threads=[1])), tmp_path / "c", shard=(2, 2), progress=False)
    with pytest.raises(store.ResultsError, match="disagree on fingerprint"):
        store.merge([a, other], tmp_path / "m.csv")


def test_shard_argument():
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) == (1, 1)
    for bad in ("0/4", "5/4", "x", "1-2"):
        with pytest.raises(ConvlabError, match="shard"):
            parse_shard(bad)


def test_bad_results_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(store.ResultsError, match="not a convlab results CSV"):
        store.read_rows(p)
    assert grid.ROW_KEY[-2:] == ("algo", "backend")


def test_device_ids():
    from convlab.device import device_id_from
    assert device_id_from("x86_64", {"model name": "AMD EPYC 9R14 96-Core Processor", "flags": "sse4_2 avx2 avx512f"}) \
        == "x86_64-amd-epyc-9r14-avx512"
    assert device_id_from("x86_64", {"model name": "Intel(R) Core(TM) i7-4770HQ CPU @ 2.20GHz", "flags": "avx avx2"}) \
        == "x86_64-intel-core-i7-4770hq-avx2"
    assert device_id_from("aarch64", {"cpu part": "0xd05", "features": "fp asimd"}) == "aarch64-cortex-a55-neon"


def test_conv_layers_read_from_an_onnx_graph():
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    from convlab.sweep.zoo_shapes import conv_layers
    inits = [numpy_helper.from_array(np.zeros((8, 1, 3, 3), np.float32), "dw"),
             numpy_helper.from_array(np.zeros((16, 8, 1, 1), np.float32), "pw")]
    nodes = [helper.make_node("Conv", ["x", "dw"], ["y"], group=8, strides=[2, 2], auto_pad="SAME_UPPER", name="a"),
             helper.make_node("Conv", ["y", "pw"], ["z"], name="b")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 10, 10])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], inits)
    a, b = conv_layers(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert (a["groups"], a["stride"], a["pads"], a["h"]) == (8, (2, 2), (0, 0, 1, 1), 10)
    assert (b["c_in"], b["c_out"], b["kh"], b["h"], b["w"]) == (8, 16, 1, 5, 5)


def test_zoo_preset_has_every_distinct_layer():
    from convlab.sweep.zoo_shapes import zoo_shapes
    shapes = zoo_shapes(["mobilenet_v1"])
    assert len(shapes) == len(set(shapes))
    ops = {(s.op, s.k) for s in shapes}
    assert ("depthwise", 3) in ops and ("conv", 1) in ops and ("conv", 3) in ops
    assert any(s.op == "depthwise" and s.stride == 2 for s in shapes)
