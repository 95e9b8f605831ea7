"""`convlab table` and `convlab plot` on synthetic results, with and without a matching seed study."""
from __future__ import annotations

import argparse

from PIL import Image

from convlab.cli import results as results_cli
from convlab import fileio
from convlab.sweep import plots, store, tables

from test_decide import synthetic_rows


def _rows():
    rows = [r for r in synthetic_rows(sizes=[8, 16, 32], chans=(16, 32)) if r["k"] == 3]
    rows.append(dict(rows[0], algo="winograd_f43", status="unsupported", reason="kernel_size: test", median_ms=None))
    return rows


def test_seed_style_table_with_seed_ratios():
    (title, headers, body), = tables.tables(_rows(), "line2019_conv3x3_direct_vs_winograd")
    assert title.startswith("3x3, 1 thread")
    assert headers[:4] == ["W", "H", "C", "direct ms"]
    assert "seed iPhone 7 direct/winograd" in headers and "onnxruntime / fastest" in headers
    assert "winograd_f43 ms" not in headers, "an unsupported kernel has no timing column"
    row = dict(zip(headers, body[[(r[0], r[2]) for r in body].index((32, 32))]))
    assert row["fastest kernel"] == "winograd_f23" and row["direct / fastest"] == "1.25x"
    assert row["direct / winograd"] == "1.25x"
    # the seed's iPhone 7 row for W=32, C=32: direct 0.567 ms, winograd 0.305 ms
    assert row["seed iPhone 7 direct/winograd"] == f"{0.567 / 0.305:.2f}x"


def test_depthwise_tables_compare_with_the_standard_conv():
    rows = [r for r in _rows() if r["algo"] == "direct"]
    rows += [dict(r, op="depthwise", groups=r["c_in"], algo="depthwise", median_ms=r["median_ms"] / 8) for r in rows]
    conv, dw = tables.tables(rows, "line2019_conv3x3_direct_vs_depthwise")
    assert conv[0].startswith("3x3, 1 thread") and dw[0].startswith("3x3 depthwise, 1 thread")
    assert not any(h.startswith("seed") for h in conv[1]), "the depthwise seed belongs beside the depthwise table"
    row = dict(zip(dw[1], dw[2][0]))
    assert row["conv direct / fastest"] == "8.00x" and "seed i7-4770hq direct/depthwise" in row


def test_table_without_a_seed_study_has_no_seed_columns():
    (_, headers, body), = tables.tables(_rows(), None)
    assert not any(h.startswith("seed") for h in headers) and len(body) == 6


def test_plots_are_written_with_the_seed_beside(tmp_path):
    paths = plots.plot_all(_rows(), "study", tmp_path, "line2019_conv3x3_direct_vs_winograd")
    assert [p.name for p in paths] == ["study_latency_k3_t1.png", "study_winners_k3_t1.png"]
    wide = Image.open(paths[0]).size
    alone = Image.open(plots.plot_all(_rows(), "alone", tmp_path / "b")[0]).size
    assert wide[0] > alone[0], "the seed's panel should sit beside ours"


def test_table_and_plot_commands(tmp_path, capsys):
    res = tmp_path / "r.csv"
    fileio.atomic_write(res, store.rows_to_csv(_rows()))
    fileio.write_json(res.with_suffix(".json"), dict(sweep="r", device_id="dev", noise="shared host",
                                                    reference="line2019_conv3x3_direct_vs_winograd"))
    p = argparse.ArgumentParser()
    results_cli.register(p.add_subparsers())
    for argv in (["table", str(res)], ["plot", str(res), "-o", str(tmp_path / "png")]):
        a = p.parse_args(argv)
        assert a.func(a) == 0
    out = capsys.readouterr().out
    assert "## r (dev)" in out and "| winograd_f23" in out and "Note: shared host" in out
    assert len(list((tmp_path / "png").glob("*.png"))) == 2
