"""Interleaved timing of one group's candidates (provisional until convlab.bench.timing lands).

Round-robin: every round times each unfinished candidate once, in a shuffled order, so drift
and other jobs on the host hit all candidates alike. A sample is a batch of calls long enough
for the clock (>= MIN_SAMPLE_S). A candidate stops when the ~95% CI of its median is within the
target relative precision, or at its time cap.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np

MIN_SAMPLE_S = 2e-4


@dataclass
class Stats:
    median_ms: float
    q1_ms: float
    q3_ms: float
    repeats: int
    rel_ci: float


def median_rel_ci(samples: np.ndarray) -> float:
    """Half-width of the order-statistic ~95% CI of the median, relative to the median."""
    n = len(samples)
    s = np.sort(samples)
    half = int(np.ceil(0.98 * np.sqrt(n)))
    lo, hi = max(0, n // 2 - half), min(n - 1, (n - 1) // 2 + half)
    med = float(np.median(s))
    return float((s[hi] - s[lo]) / 2 / med) if med > 0 and n >= 3 else float("inf")


def interleaved(fns: dict, timing) -> dict:
    for f in fns.values():
        for _ in range(int(timing.warmup)):
            f()
    number = {k: _calibrate(f) for k, f in fns.items()}
    samples: dict = {k: [] for k in fns}
    spent = dict.fromkeys(fns, 0.0)
    active = list(fns)
    rng = random.Random(0)
    while active:
        rng.shuffle(active)
        for k in active:
            f, n = fns[k], number[k]
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            dt = time.perf_counter() - t0
            spent[k] += dt
            samples[k].append(dt / n)
        active = [k for k in active if not _done(np.array(samples[k]), spent[k], timing)]
    out = {}
    for k, s in samples.items():
        s = np.array(s) * 1e3
        q1, med, q3 = np.percentile(s, [25, 50, 75])
        out[k] = Stats(float(med), float(q1), float(q3), len(s), median_rel_ci(s))
    return out


def _done(s: np.ndarray, spent: float, timing) -> bool:
    if len(s) >= timing.max_repeats or spent >= timing.max_seconds and len(s) >= 3:
        return True
    return len(s) >= timing.min_repeats and median_rel_ci(s) <= timing.target_rel_precision


def _calibrate(f) -> int:
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        if time.perf_counter() - t0 >= MIN_SAMPLE_S or n >= 1 << 16:
            return n
        n *= 4
