"""The benchmark's plumbing: CLI, JSON fields, unsupported kernels reported, peers checked. No timing asserts."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from convlab.bench import conv as bench
from convlab.bench.machine import machine_info
from convlab.bench.timing import time_interleaved
from convlab.cli import main
from convlab.peers.onnxruntime_conv import OrtConv
from convlab.spec import ConvSpec

FAST = ["--repeats", "2", "--min-time", "0", "--max-time", "0.5"]
ROW_FIELDS = {"name", "kind", "status", "reason", "prepare_ms", "median_ms", "iqr_ms", "cpu_ms", "samples", "converged",
              "gflops", "ratio_ort", "cpu_ratio_ort", "max_rel_err"}


def _json(capsys, *args):
    assert main(["bench", "conv", *args, *FAST, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_every_field_and_reports_unsupported_kernels(capsys):
    r = _json(capsys, "--shape", "4,6,9,7,3,2", "--peers", "onnxruntime", "--backend", "numba")
    assert {"machine", "conv", "threads", "timing", "rows"} <= set(r)
    assert {"cpu", "isa", "cores", "threads", "versions", "git", "load_average"} <= set(r["machine"])
    assert r["conv"]["flops"] == ConvSpec.build(4, 6, 3, 3, stride=2, padding=1).flops(1, 9, 7)
    rows = {row["name"]: row for row in r["rows"]}
    for row in rows.values():
        assert set(row) == ROW_FIELDS
    wino = rows["winograd_f23/numba"]
    assert wino["status"] == "unsupported" and "stride" in wino["reason"] and wino["median_ms"] is None
    assert rows["depthwise/numba"]["status"] == "unsupported"
    for name in ("direct/numba", "im2col/numba", "im2col_blas/numba", "onnxruntime"):
        row = rows[name]
        assert row["status"] == "ok", row
        assert row["median_ms"] > 0 and row["gflops"] > 0 and row["samples"] >= 2
        assert row["max_rel_err"] <= bench.CHECK_TOLERANCE
    assert rows["onnxruntime"]["ratio_ort"] == 1.0


def test_table_output_and_depthwise_flag(capsys):
    assert main(["bench", "conv", "--shape", "8,8,10,10,3,1", "--depthwise", "--algo", "depthwise,winograd_f23",
                 "--backend", "numba", "--peers", "onnxruntime", *FAST]) == 0
    out = capsys.readouterr().out
    assert "GFLOP/s" in out and "time / ort" in out and "machine:" in out
    assert "depthwise/numba" in out and "unsupported: groups" in out   # winograd: groups must be 1


def test_unknown_algo_backend_or_bad_shape_is_a_clean_error(capsys):
    for args in (["--shape", "1,2,3"], ["--shape", "4,4,8,8,3,1", "--algo", "nope"],
                 ["--shape", "4,4,8,8,3,1", "--backend", "fortran"], ["--shape", "4,4,2,2,5,1", "--padding", "0"]):
        assert main(["bench", "conv", *args, *FAST, "--peers", "none"]) == 2
        assert "convlab: error:" in capsys.readouterr().err


def test_out_of_memory_is_a_clean_error(capsys, monkeypatch):
    def too_big(*a, **k):    # what numpy raises for --shape 100000,100000,8,8,3,1 (335 GiB of weights)
        raise MemoryError("Unable to allocate 335. GiB for an array with shape (100000, 100000, 3, 3)")
    monkeypatch.setattr(bench, "bench_conv", too_big)
    assert main(["bench", "conv", "--shape", "4,4,8,8,3,1", *FAST, "--peers", "none"]) == 2
    err = capsys.readouterr().err
    assert err == "convlab: error: out of memory: Unable to allocate 335. GiB for an array with shape " \
                  "(100000, 100000, 3, 3)\n"


class _ShiftedPeer(OrtConv):
    """Computes almost the right thing: the output shifted by one column."""

    def __call__(self, x):
        return np.roll(super().__call__(x), 1, axis=3)


class _WrongShapePeer(OrtConv):
    def __call__(self, x):
        return super().__call__(x)[:, :, 1:]


def _missing(*a, **k):
    raise ImportError("No module named 'nothing'")


def test_peers_are_checked_before_timing_and_missing_ones_reported():
    spec = ConvSpec.build(3, 4, 3, 3, padding=1, has_bias=True)
    r = bench.bench_conv(spec, (1, 3, 8, 8), algos=["direct"], peers=["onnxruntime", "torch", "ncnn"],
                         timing=dict(repeats=2, max_time=0.2),
                         peer_factories={"torch": _ShiftedPeer, "ncnn": _missing})
    rows = {row["name"]: row for row in r["rows"]}
    assert rows["torch"]["status"] == "mismatch" and rows["torch"]["median_ms"] is None
    assert "not timed" in rows["torch"]["reason"]
    json.dumps(r, allow_nan=False)
    r = bench.bench_conv(spec, (1, 3, 8, 8), algos=[], backends=["numba"], peers=["onnxruntime"],
                         peer_factories={"onnxruntime": _WrongShapePeer})
    assert r["rows"][0]["status"] == "mismatch" and "shape" in r["rows"][0]["reason"]
    json.dumps(r, allow_nan=False)
    assert rows["ncnn"]["status"] == "missing" and rows["ncnn"]["median_ms"] is None
    assert rows["onnxruntime"]["status"] == "ok" and rows["direct/numba"]["ratio_ort"] is not None


@pytest.mark.parametrize("peer", list(bench.PEERS))
def test_each_real_peer_matches_the_reference_or_is_reported_missing(peer):
    spec = ConvSpec.build(6, 6, 3, 3, stride=2, padding=(1, 0, 1, 1), groups=3, activation="relu6", has_bias=True)
    r = bench.bench_conv(spec, (2, 6, 9, 8), algos=["direct"], peers=[peer], timing=dict(repeats=2, max_time=0.2))
    row = r["rows"][-1]
    assert row["status"] in ("ok", "missing"), row
    if row["status"] == "ok":
        assert row["max_rel_err"] <= bench.CHECK_TOLERANCE


def test_time_interleaved_samples_every_callable():
    calls = {"a": 0, "b": 0}

    def make(name):
        def fn():
            calls[name] += 1
        return fn
    t = time_interleaved({"a": make("a"), "b": make("b")}, warmup=1, repeats=3, max_time=0.5)
    for name in ("a", "b"):
        assert len(t[name].samples) >= 3 and t[name].median >= 0 and t[name].iqr >= 0
        assert calls[name] >= 1 + 3 * t[name].calls_per_sample


def test_machine_info_is_json_serialisable():
    json.dumps(machine_info(1))


@pytest.mark.parametrize("library", ["torch", "ncnn"])
def test_a_peer_whose_library_is_not_installed_is_reported_missing(library, monkeypatch):
    monkeypatch.setitem(sys.modules, library, None)     # makes `import library` raise ImportError
    spec = ConvSpec.build(3, 4, 3, 3, padding=1)
    r = bench.bench_conv(spec, (1, 3, 6, 6), algos=[], peers=[library], timing=dict(repeats=2, max_time=0.2))
    row = r["rows"][0]
    assert row["status"] == "missing" and library in row["reason"] and row["median_ms"] is None
