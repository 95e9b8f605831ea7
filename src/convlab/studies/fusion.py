"""Fusion study: model latency original / + BN folding / + conv-activation fusion, per backend.

For each zoo model, convlab's engine runs it three ways on each backend (numba, c): no graph
passes; the `fold_bn` pass (BatchNormalization folded into the conv weights); `fold_bn` +
`fuse_activation` (the activation applied in the conv's epilogue). onnxruntime is the peer, with
its own optimisation levels as the nearest equivalents: DISABLE_ALL (original), BASIC (constant
folding and Conv+BN fusion), EXTENDED (+ Conv+activation fusion), ALL (+ NCHWc layouts, no
seed equivalent). Single thread; all runners of one model timed round-robin on a real image
(scikit-image's astronaut), so the ratios within a model come from the same rounds. Every
variant is first checked to give the same outputs as the original.
"""
from __future__ import annotations

import time

import numpy as np

from ..bench.timing import time_interleaved
from . import output
from .images import study_images
from ..peers.onnxruntime_conv import ort_session
from .models import model_input, zoo_model

STAGES = {"original": "none", "+ BN folding": "fold_bn", "+ conv/act fusion": "fold_bn,fuse_activation"}
ORT_LEVELS = {"original": "ORT_DISABLE_ALL", "+ BN folding": "ORT_ENABLE_BASIC",
              "+ conv/act fusion": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
BACKENDS = ("numba", "c")
SEED_COLUMNS = {"mobilenet_v1": "mobilenet_v1_ms", "mobilenet_v2": "mobilenet_v2_ms", "detector": "detector_ms",
                "fitter": "fitter_ms", "extractor": "extractor_ms"}


def _runners(zm, feeds, backends):
    from ..engine import Model
    data = zm.model.SerializeToString()
    runners, loaded = {}, {}
    for backend in backends:
        for stage, passes in STAGES.items():
            m = Model.load(data, backend=backend, threads=1, passes=passes)
            loaded[(backend, stage)] = m
            runners[(backend, stage)] = lambda m=m: m.run(feeds)
    for stage, level in ORT_LEVELS.items():
        s = ort_session(data, level=level)
        runners[("onnxruntime", stage)] = lambda s=s: s.run(None, feeds)
    return runners, loaded


def _check_same(zm, runners) -> float:
    """Largest relative difference of any variant's outputs from onnxruntime's unoptimised run."""
    ref = runners[("onnxruntime", "original")]()
    worst = 0.0
    for key, fn in runners.items():
        got = fn()
        got = list(got.values()) if isinstance(got, dict) else got
        for a, b in zip(got, ref):
            scale = float(np.abs(b).max()) or 1.0
            err = float(np.abs(np.asarray(a) - b).max()) / scale
            if not err < 1e-3:
                raise AssertionError(f"{zm.name} {key}: outputs differ from onnxruntime by {err:.2g} (relative)")
            worst = max(worst, err)
    return worst


def run(out_dir=None, quick: bool = False, models=None, backends=BACKENDS, repeats: int | None = None,
        max_time: float | None = None) -> dict:
    from .. import zoo
    out = output.out_dir(out_dir)
    models = list(models or (["fitter"] if quick else zoo.DEFAULT_MODELS))
    repeats = repeats or (2 if quick else 11)
    max_time = max_time if max_time is not None else (0.5 if quick else 40.0)
    meta_path = out / "fusion.json"
    timing = (f"Single thread. Median of >= {repeats} interleaved runs per variant; ms is process CPU time "
              f"(leaves out time other processes take on this shared machine), wall time beside it.")
    meta = output.write_meta(meta_path, {"quick": quick, "models": models, "backends": list(backends),
                                         "stages": STAGES, "onnxruntime_levels": ORT_LEVELS}, timing, 1)
    t0 = time.perf_counter()
    _, images = study_images(224, 224, 0, people=("astronaut",))
    rows = []
    for name in models:
        zm = zoo_model(name)
        feeds = model_input(zm, images[0])
        runners, loaded = _runners(zm, feeds, backends)
        worst = _check_same(zm, runners)
        t = time_interleaved(runners, repeats=repeats, max_time=max_time, progress="fusion")
        for backend in list(backends) + ["onnxruntime"]:
            base = t[(backend, "original")]
            for stage in (list(STAGES) + (["all"] if backend == "onnxruntime" else [])):
                tm = t[(backend, stage)]
                m = loaded.get((backend, stage))
                rows.append({"model": name, "backend": backend, "stage": stage,
                             "passes": STAGES.get(stage) if m else ORT_LEVELS[stage],
                             "nodes": len(m.graph.nodes) if m else None,
                             "cpu_ms": tm.cpu_median * 1e3, "wall_ms": tm.median * 1e3, "wall_iqr_ms": tm.iqr * 1e3,
                             "samples": len(tm.samples), "speedup_cpu": base.cpu_median / tm.cpu_median,
                             "speedup_wall": base.median / tm.median, "max_rel_diff": worst})
    seed = output.read_reference("line2019_fusion")
    output.write_csv(out / "fusion.csv", rows)
    _write_md(out, rows, seed, models, meta)
    plots = _plot(out, rows, seed, models)
    meta["seconds"] = time.perf_counter() - t0
    output.end_load(meta, meta_path)
    return {"rows": rows, "files": ["fusion.csv", "fusion.md", "fusion.json"] + plots}


def seed_speedups(seed: list[dict]) -> list[dict]:
    """The seed table as speedups over each device's original."""
    out = []
    for r in seed:
        base = next(s for s in seed if s["device"] == r["device"] and s["stage"] == "original")
        out.append({"device": r["device"], "stage": r["stage"],
                    **{m: base[c] / r[c] for m, c in SEED_COLUMNS.items()}})
    return out


def _write_md(out, rows, seed, models, meta):
    pivot = []
    for backend in dict.fromkeys(r["backend"] for r in rows):
        for stage in dict.fromkeys(r["stage"] for r in rows if r["backend"] == backend):
            cells = {r["model"]: r for r in rows if r["backend"] == backend and r["stage"] == stage}
            pivot.append({"backend": backend, "stage": stage,
                          **{m: f"{cells[m]['cpu_ms']:.2f} ({cells[m]['speedup_cpu']:.2f}x)" for m in models}})
    cols = {"backend": "backend", "stage": "stage", **{m: f"{m} ms (speedup)" for m in models}}
    seed_cols = {"device": "device", "stage": "stage", **{m: f"{m} ms" for m in SEED_COLUMNS}}
    seed_ms = [{"device": r["device"], "stage": r["stage"], **{m: r[c] for m, c in SEED_COLUMNS.items()}} for r in seed]
    sections = [
        ("This machine: CPU ms per run (speedup over the backend's original)", output.markdown(pivot, cols)),
        ("The seed's table (LINE DevDay 2019, ms)", output.markdown(seed_ms, seed_cols)),
        ("The seed's table as speedups over each device's original",
         output.markdown(seed_speedups(seed), {"device": "device", "stage": "stage",
                                               **{m: m for m in SEED_COLUMNS}}, ".2f")),
        ("Every measurement", output.markdown(rows, {k: k for k in rows[0]})),
    ]
    output.write_markdown(out / "fusion.md", "Fusion study: BN folding and conv-activation fusion", sections, meta)


def _plot(out, rows, seed, models) -> list[str]:
    fig, ax = output.figure(1, 12)
    series = [(f"{b} (this CPU)", {r["model"]: r["speedup_cpu"] for r in rows
                                   if r["backend"] == b and r["stage"] == "+ conv/act fusion"})
              for b in dict.fromkeys(r["backend"] for r in rows)]
    series += [(f"{r['device']} (seed)", {m: r[m] for m in models})
               for r in seed_speedups(seed) if r["stage"] == "+ conv/act fusion"]
    output.grouped_bars(ax, models, [(name, [vals.get(m, np.nan) for m in models]) for name, vals in series])
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel("speedup over original (BN folding + conv/act fusion)")
    ax.set_title("Fusion study: speedup of the optimised graph, single thread")
    return output.save_figure(fig, out, "fusion.png")
