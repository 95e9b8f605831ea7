"""Timing callables robustly on a shared, noisy machine.

- warm-up calls first (JIT compilation, caches, lazy allocations are not measured);
- each sample times enough back-to-back calls to last ``min_sample`` seconds (timer resolution);
- several callables are timed round-robin, in a rotating order, so drift (another process, CPU
  frequency) hits all of them alike and their ratios stay meaningful;
- sampling continues until every callable's IQR/median is below ``rel_precision`` (and at least
  ``repeats`` samples and ``min_time`` seconds were taken), or ``max_time`` is spent;
- the result is the median with its IQR: robust to the occasional preempted sample;
- the median process CPU time per call is kept beside the wall time: when other processes
  compete for the cores, wall time includes waiting for a core and CPU time does not (it still
  includes cache and memory-bandwidth contention, and counts every thread of this process).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Timing:
    median: float                 # seconds per call
    iqr: float                    # seconds, 75th - 25th percentile of the samples
    samples: list[float] = field(repr=False)
    calls_per_sample: int = 1
    converged: bool = True        # False when max_time ran out before rel_precision was reached
    cpu_median: float | None = None   # process CPU seconds per call
    # CPU seconds per call of the calling thread alone. For a single-threaded callable this is the CPU
    # time to report: process CPU time also counts other threads of the process -- e.g. OpenMP workers
    # of an earlier parallel call still spin-waiting -- and so can exceed the wall time.
    thread_cpu_median: float | None = None

    @property
    def rel_iqr(self) -> float:
        return self.iqr / self.median if self.median > 0 else math.inf

    @classmethod
    def from_samples(cls, samples, calls_per_sample=1, converged=True, cpu_samples=None,
                     thread_cpu_samples=None) -> "Timing":
        q1, med, q3 = np.percentile(samples, [25, 50, 75])
        cpu = float(np.median(cpu_samples)) if cpu_samples else None
        tcpu = float(np.median(thread_cpu_samples)) if thread_cpu_samples else None
        return cls(float(med), float(q3 - q1), list(samples), calls_per_sample, converged, cpu, tcpu)


def _calls_per_sample(fn: Callable[[], object], min_sample: float) -> int:
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    return max(1, math.ceil(min_sample / one)) if one > 0 else 1000


def time_interleaved(fns: dict[str, Callable[[], object]], *, warmup: int = 2, repeats: int = 7,
                     min_time: float = 0.0, max_time: float = 10.0, rel_precision: float = 0.05,
                     min_sample: float = 2e-3, clock: Callable[[], float] = time.perf_counter,
                     progress: str | None = None) -> dict[str, Timing]:
    """Median seconds per call of each callable, sampled round-robin (see module docstring).

    ``clock`` times the samples: wall time by default; ``time.process_time`` (CPU time) ignores the
    time a single-threaded callable spends preempted by other jobs, for regression checks.
    ``progress``: a label for a progress bar over the rounds (convlab.progress; on a terminal only)."""
    if not fns:
        return {}
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    number = {name: _calls_per_sample(fns[name], min_sample) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    tcpu: dict[str, list[float]] = {name: [] for name in names}
    from ..progress import bar
    rounds = bar(total=repeats, desc=progress, unit="round", enable=progress is not None)
    start = time.perf_counter()
    rnd = 0
    while True:
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for name in order:
            fn, k = fns[name], number[name]
            # the thread's CPU interval nested inside the wall interval, so it cannot come out longer
            c0, t0 = time.process_time(), clock()
            h0 = time.thread_time()
            for _ in range(k):
                fn()
            h1 = time.thread_time()
            t1 = clock()
            samples[name].append((t1 - t0) / k)
            thread = (h1 - h0) / k
            tcpu[name].append(min(thread, (t1 - t0) / k) if clock is time.perf_counter else thread)
            cpu[name].append((time.process_time() - c0) / k)
        rnd += 1
        if rnd > rounds.total:
            rounds.total = rnd
        rounds.update()
        elapsed = time.perf_counter() - start
        if rnd < repeats or elapsed < min_time:
            if elapsed < max_time:
                continue
        precise = all(Timing.from_samples(s).rel_iqr <= rel_precision for s in samples.values())
        if precise or elapsed >= max_time:
            break
    rounds.close()
    return {name: Timing.from_samples(samples[name], number[name], precise, cpu[name], tcpu[name]) for name in names}
