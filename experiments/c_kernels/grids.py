"""The issue-3 performance grids: the fastest convlab C kernel per shape vs the fastest peer.

Each shape is one `convlab bench conv` run (convlab.bench.conv.bench_conv): every C kernel that
supports the shape and every peer (onnxruntime, ncnn, torch) checked against the reference, then
timed round-robin in the same run, single thread. Reported per shape: the best C kernel, its
GFLOP/s and fraction of the measured FMA peak (experiments/fma_peak), each peer's time, and the
ratio best C / best peer on wall-clock medians and on CPU-time medians (the machine is shared:
CPU time does not count the time a single-threaded call spends preempted).

    .venv/bin/python experiments/c_kernels/grids.py 1x1 dw_s1 dw_s2 [3x3] --out results/c_kernels

The `gaps` grid holds the zoo layers the end-to-end benchmark showed slow: the classifier GEMV
(1x1 conv on a 1x1 map), global 7x7 and 5x5 depthwise, a stride-2 stem, depthwise on small maps.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from convlab.bench.conv import bench_conv
from convlab.spec import ConvSpec

# experiments/fma_peak/README.md, one thread: Zen 4 118.2 (AVX-512 = AVX2); Zen 5, this host since
# 2026-12-02, 236.8 with AVX-512 (two full-width FMA pipes). --peak sets another.
PEAK_GFLOPS = 236.8
PEERS = ("onnxruntime", "ncnn", "torch")
GRIDS = {
    "1x1": [dict(c=c, hw=hw, k=1, s=1, g=False) for c in (64, 128, 256) for hw in (16, 32, 64)],
    "dw_s1": [dict(c=c, hw=hw, k=3, s=1, g=True) for c in (32, 64, 128) for hw in (28, 56, 112)],
    "dw_s2": [dict(c=c, hw=hw, k=3, s=2, g=True) for c in (32, 64, 128) for hw in (28, 56, 112)],
    "3x3": [dict(c=c, hw=hw, k=3, s=1, g=False) for c in (16, 32, 64, 128) for hw in (16, 32, 64, 96, 118)],
    "gaps": [dict(c=1280, co=1000, hw=1, k=1, s=1, g=False), dict(c=512, co=128, hw=1, k=1, s=1, g=False),
             dict(c=512, hw=7, k=7, s=1, g=True, pad=0), dict(c=128, hw=28, k=5, s=1, g=True),
             dict(c=64, hw=56, k=5, s=2, g=True), dict(c=3, co=32, hw=224, k=3, s=2, g=False),
             dict(c=256, hw=28, k=3, s=2, g=True), dict(c=576, hw=14, k=3, s=2, g=True),
             dict(c=960, hw=7, k=3, s=1, g=True)],
}


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def run_shape(p, timing, peak=PEAK_GFLOPS):
    spec = ConvSpec.build(p["c"], p.get("co", p["c"]), p["k"], p["k"], stride=p["s"], padding=p.get("pad", p["k"] // 2),
                          groups=p["c"] if p["g"] else 1, has_bias=True)
    res = bench_conv(spec, (1, p["c"], p["hw"], p["hw"]), backends=["c"], peers=PEERS, timing=timing)
    rows = {r["name"]: r for r in res["rows"] if r["status"] == "ok" and r["median_ms"]}
    kernels = {n: r for n, r in rows.items() if r["kind"] == "kernel"}
    peers = {n: r for n, r in rows.items() if r["kind"] == "peer"}
    out = dict(shape=p, spec=spec.describe(), flops=res["conv"]["flops"], machine=res["machine"],
               rows=res["rows"])
    if kernels:
        best = min(kernels.values(), key=lambda r: r["median_ms"])
        out.update(best_c=best["name"], best_c_ms=best["median_ms"], best_c_cpu_ms=best["cpu_ms"],
                   best_c_gflops=best["gflops"], best_c_peak=best["gflops"] / peak)
    for name in PEERS:
        if name in peers:
            out[f"{name}_ms"], out[f"{name}_cpu_ms"] = peers[name]["median_ms"], peers[name]["cpu_ms"]
    if kernels and peers:
        bp = min(peers.values(), key=lambda r: r["median_ms"])
        bp_cpu = min(peers.values(), key=lambda r: r["cpu_ms"])
        out.update(best_peer=bp["name"], ratio=out["best_c_ms"] / bp["median_ms"],
                   cpu_ratio=out["best_c_cpu_ms"] / bp_cpu["cpu_ms"])
    return out


def table(grid, results) -> str:
    head = ("| shape | best C kernel | ms | GFLOP/s | % peak | " + " | ".join(f"{p} ms" for p in PEERS)
            + " | best peer | C / best peer (wall) | (CPU time) |")
    lines = [f"### {grid}", "", head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        p = r["shape"]
        lines.append(
            f"| C={p['c']}{'->' + str(p['co']) if 'co' in p else ''} k{p['k']} s{p['s']} {p['hw']}x{p['hw']} | {r.get('best_c', '-')} | {r.get('best_c_ms', float('nan')):.4f} | "
            f"{r.get('best_c_gflops', float('nan')):.1f} | {100 * r.get('best_c_peak', float('nan')):.0f} | "
            + " | ".join(f"{r.get(f'{n}_ms', float('nan')):.4f}" for n in PEERS)
            + f" | {r.get('best_peer', '-')} | {r.get('ratio', float('nan')):.3f} | {r.get('cpu_ratio', float('nan')):.3f} |")
    lines.append("")
    lines.append(f"geomean best C / best peer: wall {geomean([r.get('ratio') for r in results]):.3f}, "
                 f"CPU time {geomean([r.get('cpu_ratio') for r in results]):.3f}")
    for n in PEERS:
        lines.append(f"geomean best C / {n}: wall "
                     f"{geomean([r['best_c_ms'] / r[f'{n}_ms'] for r in results if f'{n}_ms' in r and 'best_c_ms' in r]):.3f}"
                     f", CPU time "
                     f"{geomean([r['best_c_cpu_ms'] / r[f'{n}_cpu_ms'] for r in results if f'{n}_cpu_ms' in r and 'best_c_cpu_ms' in r]):.3f}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grids", nargs="+", choices=sorted(GRIDS))
    ap.add_argument("--out", type=Path, default=Path("results/c_kernels"))
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--max-time", type=float, default=8.0)
    ap.add_argument("--peak", type=float, default=PEAK_GFLOPS, help="single-thread FMA peak, GFLOP/s")
    args = ap.parse_args()
    timing = dict(repeats=args.repeats, min_time=0.5, max_time=args.max_time, rel_precision=0.05)
    args.out.mkdir(parents=True, exist_ok=True)
    for grid in args.grids:
        results = []
        for p in GRIDS[grid]:
            results.append(run_shape(p, timing, args.peak))
            r = results[-1]
            print(f"{grid} C={p['c']} {p['hw']}: {r.get('best_c')} {r.get('best_c_ms', 0):.4f} ms, "
                  f"best peer {r.get('best_peer')}, ratio {r.get('ratio', float('nan')):.3f} "
                  f"(cpu {r.get('cpu_ratio', float('nan')):.3f})", flush=True)
        (args.out / f"grid_{grid}.json").write_text(json.dumps(results, indent=1, default=str))
        md = table(grid, results)
        (args.out / f"grid_{grid}.md").write_text(md)
        print(md, flush=True)


if __name__ == "__main__":
    main()
