"""The issue-3 grid for 3x3 stride 1 (C_in = C_out = C, W = H = S, padding 1, bias, batch 1, one
thread): convlab's C kernels against onnxruntime, ncnn and torch, all timed in interleaved rounds
in one run after a check against onnxruntime's output.

Per candidate it keeps the minimum over rounds of the thread CPU time (time.thread_time: excludes
the time other processes held the core on this shared 2-core machine), of the wall time, and the
median wall time, and prints geomeans of (fastest convlab C kernel / peer) per peer and against
the fastest peer per shape. Usage (from the repo root):
    .venv/bin/python experiments/winograd_c/grid.py [Cs] [Ss] [algos] [rounds]
e.g. experiments/winograd_c/grid.py 16,32,64,128 16,32,64,96,118 winograd_f23,winograd_f43,winograd_f63,im2col 21
"""
import sys
import time

import numpy as np
import convlab
from convlab.spec import ConvSpec
from convlab.peers.onnxruntime_conv import OrtConv
from convlab.peers.ncnn_conv import NcnnConv
from convlab.peers.torch_conv import TorchConv

Cs = [int(v) for v in sys.argv[1].split(",")] if len(sys.argv) > 1 else [16, 32, 64, 128]
Ss = [int(v) for v in sys.argv[2].split(",")] if len(sys.argv) > 2 else [16, 32, 64, 96, 118]
algos = sys.argv[3].split(",") if len(sys.argv) > 3 else ["winograd_f23", "winograd_f43", "winograd_f63", "im2col"]
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 15
rng = np.random.default_rng(0)
rows = []
for C in Cs:
    for S in Ss:
        spec = ConvSpec.build(C, C, 3, 3, padding=1, has_bias=True)
        x = rng.standard_normal((1, C, S, S), dtype=np.float32)
        w = (rng.standard_normal((C, C, 3, 3), dtype=np.float32) / np.sqrt(9 * C)).astype(np.float32)
        b = rng.standard_normal(C, dtype=np.float32)
        cands = {}
        for a in algos:
            plan = convlab.prepare_conv(w, b, padding=1, algo=a, backend="c")
            cands[a] = lambda plan=plan: plan(x)
        for name, cls in (("onnxruntime", OrtConv), ("ncnn", NcnnConv), ("torch", TorchConv)):
            p = cls(spec, w, b, x.shape)
            cands[name] = lambda p=p: p(x)
        ref = cands["onnxruntime"]()
        for n, f in cands.items():
            err = np.abs(f() - ref).max() / np.abs(ref).max()
            assert err < 1e-3, (n, err)
        budget = max(3, min(rounds, int(0.4 / (max(1e-5, 1e-9 * spec.flops(1, S, S) / 30)))))
        wall = {n: [] for n in cands}; cpu = {n: [] for n in cands}
        for r in range(budget):
            for n, f in cands.items():
                t0, c0 = time.perf_counter(), time.thread_time()
                f()
                c1, t1 = time.thread_time(), time.perf_counter()
                wall[n].append(t1 - t0); cpu[n].append(c1 - c0)
        res = {n: (min(wall[n]), min(cpu[n]), float(np.median(wall[n]))) for n in cands}
        rows.append(dict(C=C, S=S, flops=spec.flops(1, S, S), res=res))
        best = min(algos, key=lambda a: res[a][1])
        line = f"C={C:4d} S={S:4d} " + " ".join(f"{n[:10]}={res[n][1]*1e3:7.3f}" for n in cands)
        bp = min(("onnxruntime", "ncnn", "torch"), key=lambda n: res[n][1])
        print(line + f"  best={best} {spec.flops(1,S,S)/res[best][1]/1e9:.0f}GF/s ({spec.flops(1,S,S)/res[best][1]/1e9/118:.0%} of 118)"
              f" vs best peer {bp}: {res[best][1]/res[bp][1]:.2f}", flush=True)
def gm(v): return float(np.exp(np.mean(np.log(v))))
for k, lab in ((1, "thread CPU min"), (0, "wall min"), (2, "wall median")):
    out = []
    for peer in ("onnxruntime", "ncnn", "torch"):
        r = [min(row["res"][a][k] for a in algos) / row["res"][peer][k] for row in rows]
        out.append(f"{peer} {gm(r):.3f}")
    r = [min(row["res"][a][k] for a in algos) / min(row["res"][p][k] for p in ("onnxruntime", "ncnn", "torch")) for row in rows]
    out.append(f"fastest peer per shape {gm(r):.3f}")
    print(f"geomean best-convlab / peer ({lab}): " + ", ".join(out))
