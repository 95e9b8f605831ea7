"""Per-call cost of algo="auto" without input_hw (an AutoPlan) against the plan it resolves to.

`prepare_conv(w)` without input_hw returns an AutoPlan, which picks a kernel per input size. The
pick is cached per size, so after the first call an AutoPlan call should cost what the resolved
ConvPlan's call costs (issue 14: within 5% on a 16x16 layer; before the cache it re-chose on
every call, 40-60 us).

Run: `python benchmarks/bench_auto_overhead.py [--rounds 30] [--calls 2000]` (1 thread, thread CPU
time, the two plans interleaved round by round; prints medians and the ratio), or under
pytest-benchmark: `pytest benchmarks/bench_auto_overhead.py`.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import convlab

SHAPE = (32, 32, 16, 16)      # C_in, C_out, H, W: 3x3 s1 pad 1


def plans(c_in=SHAPE[0], c_out=SHAPE[1], h=SHAPE[2], w=SHAPE[3], backend=None):
    rng = np.random.default_rng(0)
    wt = rng.standard_normal((c_out, c_in, 3, 3), dtype=np.float32)
    b = rng.standard_normal(c_out, dtype=np.float32)
    x = rng.standard_normal((1, c_in, h, w), dtype=np.float32)
    auto = convlab.prepare_conv(wt, b, padding=1, backend=backend)                      # AutoPlan
    resolved = convlab.prepare_conv(wt, b, padding=1, backend=backend, input_hw=(h, w))  # ConvPlan
    out = np.empty(resolved.output_shape(x.shape), np.float32)
    auto(x, out)                                    # first call: chooses and prepares
    assert auto.plan_for(h, w).algo == resolved.algo
    return auto, resolved, x, out


def measure(rounds: int = 30, calls: int = 2000, **kw) -> dict:
    auto, resolved, x, out = plans(**kw)
    per = {"auto": [], "resolved": []}
    pair = [("resolved", resolved), ("auto", auto)]
    for r in range(rounds):
        for name, plan in pair if r % 2 else pair[::-1]:      # alternate the order: no position bias
            t0 = time.thread_time()
            for _ in range(calls):
                plan(x, out)
            per[name].append((time.thread_time() - t0) / calls)
    med = {k: float(np.median(v)) for k, v in per.items()}
    return {"algo": resolved.algo, "backend": resolved.backend, "auto_us": med["auto"] * 1e6,
            "resolved_us": med["resolved"] * 1e6, "ratio": med["auto"] / med["resolved"]}


def test_auto_plan_call(benchmark):
    auto, _, x, out = plans()
    benchmark(auto, x, out)


def test_resolved_plan_call(benchmark):
    _, resolved, x, out = plans()
    benchmark(resolved, x, out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--calls", type=int, default=2000, help="calls per round and plan")
    ap.add_argument("--backend", default=None, help="default: convlab's default backend")
    a = ap.parse_args()
    r = measure(a.rounds, a.calls, backend=a.backend)
    tiny = measure(a.rounds, a.calls, c_in=4, c_out=4, h=4, w=4, backend=a.backend)
    print(f"3x3 s1 {SHAPE[0]}->{SHAPE[1]} {SHAPE[2]}x{SHAPE[3]}, {r['algo']}/{r['backend']}, 1 thread, thread CPU time, "
          f"median of {a.rounds} rounds x {a.calls} calls: auto plan {r['auto_us']:.2f} us/call, resolved plan "
          f"{r['resolved_us']:.2f} us/call, ratio {r['ratio']:.3f}")
    print(f"the same on a 4->4 4x4 layer, where the call overhead dominates ({tiny['algo']}/{tiny['backend']}): auto "
          f"{tiny['auto_us']:.2f} us, resolved {tiny['resolved_us']:.2f} us: auto's own cost "
          f"{tiny['auto_us'] - tiny['resolved_us']:+.2f} us per call")
