"""Decision tables from synthetic results, their rules and regret, and algo="auto" reading them."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import convlab
from convlab import fileio, selection
from convlab.spec import ConvSpec
from convlab.sweep import decide, store
from convlab.cli import decide as decide_cli

SIZES = [4, 8, 16, 32, 64, 128, 256]


def synthetic_rows(sizes=SIZES, chans=(4, 8, 16, 32, 64, 128), threads=1):
    """3x3: winograd_f23 wins iff C > 16 and 16 < W <= 64, else direct; im2col 20% behind the winner.
    1x1: im2col wins iff C > 32, else direct."""
    rows = []
    for w in sizes:
        for c in chans:
            for k in (1, 3):
                if k == 3:
                    win = "winograd_f23" if c > 16 and 16 < w <= 64 else "direct"
                    times = {"direct": 1.0, "winograd_f23": 1.5, "im2col": 1.2}
                else:
                    win = "im2col" if c > 32 else "direct"
                    times = {"direct": 1.3, "im2col": 1.3}
                times[win] = 1.0 / 1.3 if k == 1 else 0.8
                base = 1e-4 * c * c * w * w * k * k
                for algo, t in times.items():
                    rows.append(dict(op="conv", k=k, stride=1, padding=k // 2, c_in=c, c_out=c, h=w, w=w, groups=1,
                                     batch=1, threads=threads, algo=algo, backend="numba", status="ok", reason="",
                                     median_ms=base * t))
                rows.append(dict(rows[-1], algo="peer", backend="onnxruntime", median_ms=base * 0.01))
    return rows


def test_winners_and_rules_recover_the_synthetic_crossovers():
    table = decide.build(synthetic_rows(), "test-dev", ["synthetic"])
    assert table["format"] == decide.FORMAT and table["device_id"] == "test-dev"
    by = {(e["k"], e["c_in"], e["w"]): e for e in table["entries"]}
    assert by[(3, 32, 32)]["winner"] == "winograd_f23" and by[(3, 8, 32)]["winner"] == "direct"
    assert by[(1, 64, 8)]["winner"] == "im2col"
    assert all(e["winner"] != "peer" for e in table["entries"]), "peers are not choices for auto"
    text = {r["family"]: r["text"] for r in table["rules"]}
    assert "3x3 s1 [numba, 1 thread]: C_in > 16 and 16 < W <= 64 → winograd_f23" in text["3x3 s1"], text["3x3 s1"]
    assert any(t.endswith("C_in > 32 → im2col") for t in text["1x1 s1"]), text["1x1 s1"]


def test_regret_on_held_out_shapes():
    table = decide.build(synthetic_rows(), "test-dev", ["synthetic"])
    held = synthetic_rows(sizes=[12, 24, 48, 100], chans=(12, 24, 48, 96))
    ev = decide.evaluate(table, held)
    assert ev["shapes"] == 32
    assert ev["auto"]["geomean"] == pytest.approx(1.0) and ev["auto"]["worst"] == pytest.approx(1.0)
    # the built-in rule picks Winograd at large maps and im2col for 1x1 where direct wins here
    assert ev["builtin"]["worst"] > 1.2


def test_least_regret_relabels_leaves():
    es = [dict(times_ms={"a": 1.0, "b": 1.01}), dict(times_ms={"a": 1.0, "b": 1.01}),
          dict(times_ms={"a": 3.0, "b": 1.0})]
    assert decide.least_regret(es) == "b", "two near-ties must not outvote one 3x loss"


def test_the_tests_run_on_the_pinned_table():
    """conftest.py pins the table algo="auto" reads in tests, whatever results/<device-id>/ holds."""
    from pathlib import Path
    assert selection.table_path() == Path(__file__).parent / "fixtures" / "decision.json"
    assert selection.current_table() is not None


@pytest.fixture
def table_file(tmp_path, monkeypatch):
    path = tmp_path / "decision.json"
    monkeypatch.setenv("CONVLAB_DECISION_TABLE", str(path))
    selection._table_at.cache_clear()
    monkeypatch.setattr(selection, "_warned", False)
    yield path
    selection._table_at.cache_clear()


def _spec(c, k, **kw):
    return ConvSpec.build(c, c, k, k, padding=k // 2, **kw)


def test_auto_uses_the_exact_hit_then_the_rules(table_file):
    rows = synthetic_rows()
    # one swept shape whose measured winner contradicts both the rules and the built-in rule
    for r in rows:
        if (r["k"], r["c_in"], r["w"], r["algo"]) == (3, 32, 32, "im2col"):
            r["median_ms"] *= 0.25
    fileio.write_json(table_file, decide.build(rows, "test-dev", ["synthetic"]))
    assert selection.choose_algo(_spec(32, 3), 32, 32, "numba") == "im2col"            # exact hit
    assert selection.choose_algo(_spec(48, 3), 40, 40, "numba") == "winograd_f23"      # rules
    assert selection.choose_algo(_spec(48, 3), 200, 200, "numba") == "direct"          # rules
    assert selection.choose_algo(_spec(48, 1), 20, 20, "numba") == "im2col"
    assert selection.choose_algo(_spec(8, 1), 20, 20, "numba") == "direct"
    # a family the table never saw (5x5) falls through to the built-in rule
    assert selection.choose_algo(_spec(48, 5), 40, 40, "numba") == "im2col"
    # and the public API inherits it
    w = np.zeros((32, 32, 3, 3), np.float32)
    assert convlab.prepare_conv(w, padding=1, backend="numba", input_hw=(32, 32)).algo == "im2col"
    assert convlab.prepare_conv(w, padding=1, backend="numba").plan_for(200, 200).algo == "direct"


def test_a_pick_the_kernel_cannot_run_falls_back(table_file):
    table = decide.build(synthetic_rows(), "test-dev", ["synthetic"])
    table["rules"][1]["tree"] = dict(algo="depthwise")   # 3x3 s1 dense: depthwise cannot run it
    fileio.write_json(table_file, table)
    assert selection.choose_algo(_spec(48, 3), 40, 40, "numba") == \
        next(a for a in selection.builtin_rule(_spec(48, 3), 40, 40, "numba") if a in ("winograd_f23", "im2col"))


def test_no_table_warns_once_and_uses_the_builtin_rule(table_file):
    with pytest.warns(RuntimeWarning, match="no decision table"):
        a = selection.choose_algo(_spec(32, 3), 32, 32, "numba")
    assert a == "winograd_f23"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        selection.choose_algo(_spec(32, 3), 32, 32, "numba")


def test_bad_table_is_a_named_error(table_file):
    table_file.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(convlab.ConvlabError, match="not a convlab decision table"):
        selection.choose_algo(_spec(32, 3), 32, 32, "numba")


def test_decide_cli_writes_table_and_regret(tmp_path, capsys):
    res = tmp_path / "r.csv"
    fileio.atomic_write(res, store.rows_to_csv(synthetic_rows()))
    held = tmp_path / "h.csv"
    fileio.atomic_write(held, store.rows_to_csv(synthetic_rows(sizes=[12, 48], chans=(24, 96))))
    out = tmp_path / "dev" / "decision.json"
    p = __import__("argparse").ArgumentParser()
    decide_cli.register(p.add_subparsers())
    args = p.parse_args(["decide", str(res), "-o", str(out), "--evaluate", str(held)])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "→ winograd_f23" in text and "auto     regret over 8 shapes: geomean 1.000" in text
    assert json.loads(out.read_text())["entries"]
    assert json.loads((tmp_path / "dev" / "decision_regret.json").read_text())["auto"]["geomean"] == pytest.approx(1.0)


def test_c_never_takes_a_table_winograd_pick_below_the_minimum_side():
    """The pinned table (a copy of the shipped one) picks F(2,3) for the zoo detector's 4x5 head,
    timed against the old im2col; the C backend's auto takes im2col there. Numba keeps the pick, and
    C still follows the table's Winograd picks at the minimum side and above."""
    spec = ConvSpec.build(256, 12, 3, 3, padding=1)
    assert selection.current_table().choose(spec, 4, 5, "c", 1)[0] == "winograd_f23"
    assert selection.choose_algo(spec, 4, 5, "c") == "im2col"
    assert selection.choose_algo(spec, 4, 5, "numba") == "winograd_f23"
    side = selection.MIN_WINOGRAD_SIDE
    big = ConvSpec.build(64, 64, 3, 3, padding=1)
    picked = selection.current_table().choose(big, side, side, "c", 1)
    assert selection.choose_algo(big, side, side, "c") == picked[0]


def test_c_takes_a_tiny_map_winograd_pick_measured_on_the_current_kernels(table_file):
    """A table `convlab decide` made from a tune of this build (stamped with C_KERNELS_REVISION) is
    trusted below the minimum side: its exact Winograd winner there is what C's auto runs. The same
    entry in an unstamped table (made on older kernels) is not."""
    spec = ConvSpec.build(64, 64, 3, 3, padding=1)
    entry = dict(k=3, stride=1, padding=1, c_in=64, c_out=64, h=4, w=4, groups=1, backend="c", threads=1,
                 winner="winograd_f23", margin=1.2, times_ms={"winograd_f23": 0.01, "im2col": 0.012})
    table = dict(format="convlab-decision-table/1", device_id="here", sources=[], features=list(selection.FEATURES),
                 entries=[entry], rules=[])
    for stamp, expected in ((selection.C_KERNELS_REVISION, "winograd_f23"), (None, "im2col")):
        table_file.write_text(json.dumps(dict(table, c_kernels=stamp)))
        selection._table_at.cache_clear()
        assert selection.choose_algo(spec, 4, 4, "c") == expected
    assert decide.build([], "here", [])["c_kernels"] == selection.C_KERNELS_REVISION
