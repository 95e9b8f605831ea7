"""Issue 16, the result store: nothing lost, nothing outside results/, no torn row taken as measured,
and corrupt or foreign files as clear errors (ResultsError / SweepSpecError, never a traceback)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from convlab.errors import ConvlabError
from convlab.sweep import store
from convlab.device import check_device_id, device_id
from convlab.sweep.grid import SweepSpecError, load, parse
from convlab.sweep.runner import run_sweep

TINY = dict(name="tiny", grid=dict(kernel=[1, 3], channels=[2], size=[5, 7]), threads=[1],
            algos=["reference"], backends=["numpy"], timing=dict(warmup=0, min_repeats=2, max_seconds=0.01))
SLOW = textwrap.dedent("""\
    name: slow
    grid: {kernel: [1, 3], channels: [2, 4, 6], size: [5, 7, 9]}
    threads: [1]
    algos: [reference]
    backends: [numpy]
    timing: {warmup: 1, min_repeats: 3, target_rel_precision: 1.0e-9, max_seconds: 0.4}
    """)
ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "convlab", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_two_resume_runs_on_one_output_lose_nothing(tmp_path):
    spec_file = tmp_path / "slow.yaml"
    spec_file.write_text(SLOW)
    out = tmp_path / "out"
    a = _cli("sweep", str(spec_file), "--out", str(out), "--resume", "--no-progress")
    deadline = time.time() + 60
    while time.time() < deadline and a.poll() is None:
        if (out / "slow.csv").exists() and len(store.read_rows(out / "slow.csv")) >= 2:
            break
        time.sleep(0.02)
    assert a.poll() is None, "the first sweep ended before the second started: make SLOW slower"
    # the second process (this one) refuses at once, naming the holder, and writes nothing
    with pytest.raises(store.ResultsError, match=f"being written by another convlab process \\(pid {a.pid}\\)"):
        run_sweep(load(spec_file), out, resume=True, progress=False)
    a_out, a_err = a.communicate(timeout=300)
    assert a.returncode == 0, a_err
    rows = store.read_rows(out / "slow.csv")
    assert len(rows) == len(load(spec_file).shapes) and json.loads((out / "slow.json").read_text())["complete"]


def test_cli_reports_a_held_lock_as_one_line(tmp_path):
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(json.dumps(TINY))
    with store.locked(tmp_path / "out" / "tiny.csv"):
        b = _cli("sweep", str(spec_file), "--out", str(tmp_path / "out"), "--resume", "--no-progress")
        b_out, b_err = b.communicate(timeout=120)
    assert b.returncode == 2 and f"pid {os.getpid()}" in b_err and "Traceback" not in b_err, b_err


def test_lock_is_released_when_the_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from convlab.sweep import store; "
                               f"cm = store.locked(__import__('pathlib').Path({str(tmp_path / 'x.csv')!r})); "
                               "cm.__enter__(); print('held', flush=True); time.sleep(60)"],
                              env=ENV, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(store.ResultsError, match=f"pid {holder.pid}"):
        with store.locked(tmp_path / "x.csv"):
            pass
    holder.kill()
    holder.wait()
    with store.locked(tmp_path / "x.csv"):
        pass


def _truncate_last_row(csv: Path, how: str):
    text = csv.read_text()
    if how == "no newline":
        csv.write_text(text[:-1])               # the last row loses its newline (a torn write)
    else:
        lines = text.splitlines(keepends=True)
        lines[2] = ",".join(lines[2].split(",")[:9]) + "\n"   # a row with too few fields
        csv.write_text("".join(lines))


@pytest.mark.parametrize("how", ["no newline", "too few fields"])
def test_truncated_row_is_remeasured_by_resume_and_refused_by_merge(tmp_path, how):
    spec = parse(TINY)
    path = run_sweep(spec, tmp_path, progress=False)
    full = store.read_rows(path)
    _truncate_last_row(path, how)
    with pytest.raises(store.ResultsError, match="truncated"):
        store.read_rows(path)
    with pytest.raises(store.ResultsError, match="truncated.*--resume"):
        store.merge([path], tmp_path / "merged.csv")
    run_sweep(spec, tmp_path, resume=True, progress=False)
    again = store.read_rows(path)
    assert sorted(map(store.row_key, again)) == sorted(map(store.row_key, full))


def test_merge_refuses_writing_over_an_input(tmp_path):
    path = run_sweep(parse(TINY), tmp_path, progress=False)
    with pytest.raises(store.ResultsError, match="also an input"):
        store.merge([path], path)


@pytest.mark.parametrize("bad", ["../../x", "/abs/path", ".hidden", "a/b", "", "x\ny", ".."])
def test_device_ids_cannot_leave_results(bad, monkeypatch, tmp_path):
    with pytest.raises(ConvlabError, match="not a valid name"):
        check_device_id(bad, "test")
    if bad:
        monkeypatch.setenv("CONVLAB_DEVICE_ID", bad)
        device_id.cache_clear()
        try:
            with pytest.raises(ConvlabError, match="CONVLAB_DEVICE_ID"):
                device_id()
        finally:
            device_id.cache_clear()
    csv = tmp_path / "r.csv"
    csv.write_text("")
    (tmp_path / "r.json").write_text(json.dumps({"device_id": bad}))
    if bad:
        with pytest.raises(store.ResultsError, match="not a valid name"):
            store.read_meta(csv)


def test_good_device_ids():
    for good in ("x86_64-amd-epyc-avx512", "aarch64-cortex-a55-neon", "board.2"):
        assert check_device_id(good, "t") == good


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe garbage", b"[" * 100000])
def test_corrupt_sidecar_is_a_results_error(tmp_path, content):
    csv = tmp_path / "r.csv"
    csv.write_text("")
    (tmp_path / "r.json").write_bytes(content)
    with pytest.raises(store.ResultsError, match="sidecar"):
        store.read_meta(csv)


def test_non_utf8_files_are_clear_errors(tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_bytes(b"op,k\n\xff\xfe\n")
    with pytest.raises(store.ResultsError, match="not UTF-8"):
        store.read_rows(csv)
    spec = tmp_path / "s.yaml"
    spec.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SweepSpecError, match="not UTF-8"):
        load(spec)


@pytest.mark.parametrize("change, message", [
    (dict(threads=[0]), "positive integer"),
    (dict(algos=["bogus"]), "unknown algo"),
    (dict(timing=dict(max_seconds=float("nan"))), "timing.max_seconds"),
    (dict(budget=dict(max_gflop="lots")), "max_gflop"),
])
def test_bad_spec_values_rejected_at_load(change, message):
    with pytest.raises(SweepSpecError, match=message):
        parse(dict(TINY, **change))


def test_cli_threads_zero_rejected_before_any_row(tmp_path):
    spec = parse(TINY)
    spec.threads = [0]      # what `convlab sweep --threads 0` does to a loaded spec
    with pytest.raises(SweepSpecError, match="threads must be integers from 1 to 1024"):
        run_sweep(spec, tmp_path, progress=False)
    assert not (tmp_path / "tiny.csv").exists()
