"""End-to-end benchmark (not a test): each zoo model, convlab configurations vs onnxruntime.

    python -m convlab.bench.zoo_end_to_end [--models mobilenet_v2,detector] [--repeat 20] [--json out.json]

Single thread. Every runner (onnxruntime with all its graph optimisations, and each convlab
configuration) is warmed up, then the runners take turns, one run each per round, so machine
noise hits all of them alike; medians per runner, ratios to onnxruntime from the same rounds.
Each run is timed twice: thread CPU time (the headline: on a shared machine it leaves out the
time other processes take; both runtimes run single-threaded on the calling thread) and wall time.
The best convlab configuration's per-layer profile shows where the time goes.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import numpy as np

CONFIGS = [("auto", "numba"), ("auto", "c"), ("tune", "all")]


def _ort(model_bytes: bytes):
    from ..peers.onnxruntime_conv import ort_session
    s = ort_session(model_bytes)
    return lambda feeds: s.run(None, feeds)


def where_time_goes(profile) -> dict[str, float]:
    """Share of the profiled time by layer kind: depthwise, 1x1 and kxk convs, everything else."""
    share = defaultdict(float)
    total = sum(r["ms"] for r in profile.rows) or 1.0
    for step, row in zip(profile.steps, profile.rows):
        spec = step.spec
        kind = ("other ops" if spec is None else "depthwise conv" if spec.is_depthwise and spec.groups > 1
                else "1x1 conv" if spec.kernel_size == (1, 1) else f"{spec.kh}x{spec.kw} conv")
        share[kind] += 100 * row["ms"] / total
    return dict(sorted(share.items(), key=lambda kv: -kv[1]))


def bench_model(name: str, repeat: int) -> dict:
    from .. import zoo
    from ..engine.model import Model
    zm = zoo.build_model(name)
    data = zm.model.SerializeToString()
    runners = {"onnxruntime": _ort(data)}
    models = {}
    for conv, backend in CONFIGS:
        key = f"convlab {conv}/{backend}"
        t0 = time.perf_counter()
        models[key] = Model.load(data, conv=conv, backend=backend, threads=1)
        models[key].load_seconds = time.perf_counter() - t0
        runners[key] = models[key].run
    inp = zm.model.graph.input[0].name
    s = zm.spec.input
    feeds = {inp: zoo.normalise_images(zoo.calibrate.generated_images(1, s.height, s.width, seed=1), zm.spec)}
    for run in runners.values():
        for _ in range(3):
            run(feeds)
    cpu, wall = defaultdict(list), defaultdict(list)
    for _ in range(repeat):
        for key, run in runners.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            run(feeds)
            cpu[key].append(time.thread_time() - c0)
            wall[key].append(time.perf_counter() - t0)
    ms = {k: float(np.median(v) * 1e3) for k, v in cpu.items()}
    min_ms = {k: float(np.min(v) * 1e3) for k, v in cpu.items()}
    wall_ms = {k: float(np.median(v) * 1e3) for k, v in wall.items()}
    best = min(models, key=ms.get)
    prof = models[best].profile(feeds, repeat=max(5, repeat // 2), clock="cpu")
    prof.steps = models[best].executor.steps
    top = sorted(prof.rows, key=lambda r: -r["ms"])[:5]
    return {"model": name, "input": list(feeds[inp].shape), "ms": ms, "min_ms": min_ms, "wall_ms": wall_ms,
            "best": best, "ratio": ms[best] / ms["onnxruntime"], "wall_ratio": wall_ms[best] / wall_ms["onnxruntime"],
            "min_ratio": min_ms[best] / min_ms["onnxruntime"],
            "load_seconds": {k: m.load_seconds for k, m in models.items()},
            "where": where_time_goes(prof),
            "top_layers": [{k: r[k] for k in ("layer", "op", "input", "kernel", "ms", "pct", "gflops")} for r in top],
            "arena": prof.arena}


def table(results: list[dict]) -> str:
    from tabulate import tabulate
    keys = list(results[0]["ms"])
    rows = [[r["model"], "x".join(map(str, r["input"][1:]))]
            + [f"{r['ms'][k]:.2f} ({r['min_ms'][k]:.2f})" for k in keys]
            + [r["best"].replace("convlab ", ""), f"{r['ratio']:.2f}x", f"{r['min_ratio']:.2f}x", f"{r['wall_ratio']:.2f}x"]
            for r in results]
    out = [tabulate(rows, headers=["model", "input"] + [k.replace("convlab ", "") + " ms (min)" for k in keys]
                    + ["best", "best/ort median", "min", "wall median"], disable_numparse=True, tablefmt="github")]
    for r in results:
        where = ", ".join(f"{k} {v:.0f}%" for k, v in r["where"].items())
        out.append(f"\n{r['model']} ({r['best']}): {where}; arena {r['arena']['peak_bytes'] / 2**20:.2f} MiB "
                   f"(no reuse {r['arena']['no_reuse_bytes'] / 2**20:.2f} MiB)")
        out += [f"  {t['layer']:<12} {t['op']:<16} {t['input']:<14} {t['kernel']:<18} {t['ms']:7.3f} ms "
                f"{t['pct']:5.1f}%  {t['gflops']:6.2f} GFLOP/s" for t in r["top_layers"]]
    return "\n".join(out)


def main(argv=None) -> int:
    from .. import zoo
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(zoo.DEFAULT_MODELS))
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    from .machine import machine_info
    machine = machine_info(threads=1)
    v = machine["versions"]
    print(f"# {machine['cpu']}, 1 thread, load average {machine['load_average']}, onnxruntime {v['onnxruntime']}, "
          f"numba {v['numba']}, git {machine['git']}; median (and min) of {args.repeat} interleaved runs, "
          f"ms of thread CPU time")
    results = [bench_model(m.strip(), args.repeat) for m in args.models.split(",") if m.strip()]
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
