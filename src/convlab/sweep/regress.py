"""Performance regression checks that survive a noisy, shared machine.

Each case (one kernel on one fixed shape, single-threaded) is timed in process CPU time, so time
spent preempted by other jobs does not count, interleaved with a frozen *anchor* workload in short
blocks, and recorded as one ratio case/anchor per block: frequency changes and cache pressure from
other jobs slow both alike and cancel. Comparing a baseline run with a current run, a case is
flagged only when all three hold:
- the ratio of median ratios (the slowdown) exceeds 1 + threshold,
- a one-sided Mann-Whitney U test says current ratios are larger (p < alpha),
- the bootstrap 95% CI of the slowdown lies above 1,
and, when the cases can be re-timed (`confirm`, the CI mode), every one of a few fresh reruns of the
case flags it again. The within-run statistics cannot see drift *between* runs (a co-runner's cache
or memory traffic during one run): on this shared host unchanged cases drifted up to ~13% between
runs, each time a different case, so a flag must survive reruns to count.
The anchor's source is hashed into every report; reports with different anchors are not compared.
"""
from __future__ import annotations

import hashlib
import inspect
import math
import time
from dataclasses import dataclass

import numba
import numpy as np

from .. import registry
from ..api import ConvPlan
from ..bench.timing import time_interleaved
from ..errors import ConvlabError
from ..spec import ConvSpec

FORMAT = "convlab-regress/1"
THRESHOLD = 0.10
# Samples per block: a block's ratio is min(case)/min(anchor) over this many interleaved samples each.
# On a loaded host single ~1 ms samples are often preempted; the fastest of a few is the one that
# ran alone, so the ratio of minima is far steadier than a ratio of single samples.
BLOCK = 5
ALPHA = 0.01
# The fixed shape set: one or two shapes per kind of layer; each kernel runs those it supports.
SHAPES = {
    "3x3_32x32_28": dict(c_in=32, c_out=32, k=3, stride=1, groups=1, hw=28),
    "3x3s2_16x32_56": dict(c_in=16, c_out=32, k=3, stride=2, groups=1, hw=56),
    "1x1_64x64_28": dict(c_in=64, c_out=64, k=1, stride=1, groups=1, hw=28),
    "dw3x3_64_28": dict(c_in=64, c_out=64, k=3, stride=1, groups=64, hw=28),
    "stem3x3s2_3x32_112": dict(c_in=3, c_out=32, k=3, stride=2, groups=1, hw=112),
}


@numba.njit(cache=True, nogil=True)
def _anchor_loop(x, w, out):  # pragma: no cover - compiled
    # A plain 3x3 valid convolution, never to be optimised: it is the yardstick, not a kernel.
    co_n, ci_n, kh, kw = w.shape
    for co in range(co_n):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                acc = 0.0
                for ci in range(ci_n):
                    for a in range(kh):
                        for b in range(kw):
                            acc += x[ci, i + a, j + b] * w[co, ci, a, b]
                out[co, i, j] = acc


def make_anchor():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 26, 26), dtype=np.float32)
    w = rng.standard_normal((16, 16, 3, 3), dtype=np.float32)
    out = np.empty((16, 24, 24), np.float32)
    return lambda: _anchor_loop(x, w, out)


ANCHOR_VERSION = hashlib.sha256((inspect.getsource(_anchor_loop) + inspect.getsource(make_anchor)).encode()).hexdigest()[:12]


def cases(backends: list[str] | None = None) -> dict[str, tuple[registry.KernelEntry, ConvSpec, int]]:
    out = {}
    for e in registry.entries(available_only=True):
        if e.algo == "reference" or (backends and e.backend not in backends):
            continue
        for sname, s in SHAPES.items():
            spec = ConvSpec.build(s["c_in"], s["c_out"], s["k"], s["k"], stride=s["stride"], padding=s["k"] // 2,
                                  groups=s["groups"], has_bias=True)
            if e.supports(spec):
                out[f"{e.name}@{sname}"] = (e, spec, s["hw"])
    return out


def case_runner(entry, spec: ConvSpec, hw: int, threads: int, slowdown: float = 1.0):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, spec.c_in, hw, hw), dtype=np.float32)
    w = rng.standard_normal(spec.weight_shape, dtype=np.float32)
    b = rng.standard_normal(spec.c_out, dtype=np.float32)
    run = ConvPlan.from_spec(spec, w, b, algo=entry.algo, backend=entry.backend, threads=threads).bind(x)
    if slowdown == 1.0:
        return run

    def slowed():
        # validation only: the kernel's own work, then a spin for the injected extra fraction of it
        t0 = time.process_time()
        run()
        t1 = time.process_time()
        end = t1 + (t1 - t0) * (slowdown - 1.0)
        while time.process_time() < end:
            pass
    return slowed


def run_fixed_set(*, threads: int = 1, samples: int = 15, max_seconds: float = 3.0, backends=None, only=None,
                  only_cases=None, inject: dict[str, float] | None = None, progress=None) -> dict:
    """Time every case paired with the anchor; `inject` = {case: factor} slows cases on purpose."""
    from ..bench.machine import machine_info
    anchor = make_anchor()
    report = dict(format=FORMAT, anchor=ANCHOR_VERSION, threads=threads, machine=machine_info(threads),
                  injected=inject or {}, cases={})
    todo = {k: v for k, v in cases(backends).items()
            if (not only or any(o in k for o in only)) and (only_cases is None or k in only_cases)}
    for i, (name, (entry, spec, hw)) in enumerate(todo.items()):
        fn = case_runner(entry, spec, hw, threads, (inject or {}).get(name, 1.0))
        ratios, case_ms, anchor_ms = [], [], []
        for _ in range(samples):
            t = time_interleaved({"case": fn, "anchor": anchor}, warmup=1, repeats=BLOCK, max_time=max_seconds / samples,
                                 rel_precision=math.inf, min_sample=1e-3, clock=time.process_time)
            c, a = min(t["case"].samples), min(t["anchor"].samples)
            ratios.append(c / a)
            case_ms.append(c * 1e3)
            anchor_ms.append(a * 1e3)
        report["cases"][name] = dict(ratios=ratios, median_ms=float(np.median(case_ms)),
                                     anchor_ms=float(np.median(anchor_ms)))
        if progress:
            progress(i + 1, len(todo), name)
    return report


def from_pytest_benchmark(data: dict) -> dict:
    """A pytest-benchmark JSON (saved with --benchmark-save-data) as a regress report: each sample
    divided by the anchor benchmark's median of the same run (not paired: weaker, still normalised)."""
    benches = {b["name"]: b for b in data.get("benchmarks", [])}
    anchor = next((b for n, b in benches.items() if n.startswith("test_anchor")), None)
    if anchor is None or any("data" not in b["stats"] for b in benches.values()):
        raise ConvlabError("pytest-benchmark JSON needs the test_anchor benchmark and raw samples "
                           "(run with --benchmark-save-data)")
    a = float(np.median(anchor["stats"]["data"]))
    out = dict(format=FORMAT, anchor=anchor.get("extra_info", {}).get("anchor_version"), threads=1,
               machine=data.get("machine_info", {}), injected={}, cases={})
    for name, b in benches.items():
        if b is not anchor:
            case = b.get("extra_info", {}).get("case", name)
            out["cases"][case] = dict(ratios=[s / a for s in b["stats"]["data"]],
                                      median_ms=float(np.median(b["stats"]["data"])) * 1e3, anchor_ms=a * 1e3)
    return out


@dataclass
class Verdict:
    case: str
    status: str          # slower | unconfirmed | faster | same | new | removed
    slowdown: float | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    reruns: list[float] | None = None   # slowdowns measured by the confirmation reruns


def compare(baseline: dict, current: dict, threshold: float = THRESHOLD, alpha: float = ALPHA) -> list[Verdict]:
    from scipy.stats import mannwhitneyu
    for rep, label in ((baseline, "baseline"), (current, "current")):
        if rep.get("format") != FORMAT:
            raise ConvlabError(f"{label} is not a convlab regress report")
    if baseline.get("anchor") != current.get("anchor"):
        raise ConvlabError(f"the anchor workload changed ({baseline.get('anchor')} -> {current.get('anchor')}): "
                           "ratios are not comparable; record a new baseline")
    out = []
    b_cases, c_cases = baseline["cases"], current["cases"]
    for name in sorted(set(b_cases) | set(c_cases)):
        if name not in c_cases or name not in b_cases:
            out.append(Verdict(name, "removed" if name not in c_cases else "new"))
            continue
        b, c = np.array(b_cases[name]["ratios"]), np.array(c_cases[name]["ratios"])
        slowdown = float(np.median(c) / np.median(b))
        lo, hi = bootstrap_ci(b, c)
        p_slower = float(mannwhitneyu(c, b, alternative="greater").pvalue)
        p_faster = float(mannwhitneyu(c, b, alternative="less").pvalue)
        if slowdown > 1 + threshold and p_slower < alpha and lo > 1:
            status, p = "slower", p_slower
        elif slowdown < 1 / (1 + threshold) and p_faster < alpha and hi < 1:
            status, p = "faster", p_faster
        else:
            status, p = "same", min(p_slower, p_faster)
        out.append(Verdict(name, status, slowdown, (lo, hi), p))
    return out


def confirm(baseline: dict, verdicts: list[Verdict], reruns: int = 2, threshold: float = THRESHOLD,
            **run_kw) -> list[Verdict]:
    """Re-time each flagged case `reruns` times; it stays "slower" only if every rerun flags it."""
    flagged = [v for v in verdicts if v.status == "slower"]
    if not flagged or reruns < 1:
        return verdicts
    again = [{v.case: v for v in compare(baseline, run_fixed_set(only_cases=[f.case for f in flagged], **run_kw),
                                         threshold)} for _ in range(reruns)]
    for v in flagged:
        v.reruns = [a[v.case].slowdown for a in again]
        if any(a[v.case].status != "slower" for a in again):
            v.status = "unconfirmed"
    return verdicts


def bootstrap_ci(b: np.ndarray, c: np.ndarray, n: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of median(c) / median(b), seeded so a report is reproducible."""
    rng = np.random.default_rng(0)
    mb = np.median(rng.choice(b, (n, len(b))), axis=1)
    mc = np.median(rng.choice(c, (n, len(c))), axis=1)
    q = np.quantile(mc / mb, [(1 - level) / 2, (1 + level) / 2])
    return float(q[0]), float(q[1])


def markdown(verdicts: list[Verdict], baseline: dict, current: dict, threshold: float, confirmed: bool) -> str:
    flagged = [v for v in verdicts if v.status == "slower"]
    lines = [f"# Performance regression check: {len(flagged)} case(s) slower than {1 + threshold:.2f}x",
             "",
             f"Baseline {baseline['machine'].get('git', '?')} vs current {current['machine'].get('git', '?')}, "
             f"{current.get('threads', 1)} thread(s), anchor {current['anchor']}. Slowdown = median(case/anchor) now "
             f"/ before; flagged when > {1 + threshold:.2f}, Mann-Whitney p < {ALPHA}, the bootstrap 95% CI > 1"
             + (" and every confirmation rerun agrees." if confirmed else
                " (not confirmed by reruns: two stored reports cannot be re-timed)."),
             "", "| case | status | slowdown | 95% CI | p | reruns |", "|---|---|---|---|---|---|"]
    for v in verdicts:
        if v.slowdown is None:
            lines.append(f"| {v.case} | {v.status} | | | | |")
        else:
            lines.append(f"| {v.case} | {'**SLOWER**' if v.status == 'slower' else v.status} | {v.slowdown:.3f} | "
                         f"{v.ci[0]:.3f}-{v.ci[1]:.3f} | {_p(v.p_value)} | "
                         f"{', '.join(f'{r:.3f}' for r in v.reruns or [])} |")
    return "\n".join(lines) + "\n"


def _p(p: float) -> str:
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}" if not math.isnan(p) else "nan"
