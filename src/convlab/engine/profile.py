"""Per-layer timing of a loaded model: medians over repeats after warm-up, as a table or JSON.

clock="wall" times with perf_counter; clock="cpu" with the thread's CPU time, which leaves out the
time the OS gives other processes — the fairer measure of a single-threaded run on a shared
machine (it also leaves out any worker threads, so use wall time for threads > 1).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..device import cpu_model


def _shape(s) -> str:
    return "x".join(str(d) for d in s) if len(s) else "scalar"


@dataclass
class Profile:
    rows: list[dict]
    total_ms: float                  # median time of a whole run
    repeat: int
    threads: int
    arena: dict
    passes: list = field(default_factory=list)
    clock: str = "wall"

    def table(self) -> str:
        from tabulate import tabulate
        rows = [[r["layer"], r["op"], r["input"], r["output"],
                 r["kernel"] + (" *" if r["note"] else "") + (" [py]" if r.get("host_note") else ""),
                 f"{r['ms']:.3f}", f"{r['pct']:.1f}", f"{r['gflops']:.2f}" if r["gflops"] else ""]
                for r in self.rows]
        text = tabulate(rows, headers=["layer", "op", "input", "output", "kernel", "ms", "%", "GFLOP/s"],
                        disable_numparse=True)
        notes = [f"  * {r['layer']}: {r['note']}" for r in self.rows if r["note"]]
        python_steps = [f"  [py] {r['layer']}: {r['host_note']}" for r in self.rows if r.get("host_note")]
        a = self.arena
        footer = [f"total {self.total_ms:.3f} ms {self.clock} time (median of {self.repeat}, {self.threads} thread(s), "
                  f"{cpu_model()})",
                  f"activation arena: {a['peak_bytes'] / 2**20:.2f} MiB peak vs {a['no_reuse_bytes'] / 2**20:.2f} MiB "
                  f"without reuse ({a['tensors']} tensors, {100 * a['saving']:.0f}% saved)"]
        return "\n".join([text] + (["fallbacks:"] + notes if notes else [])
                         + (["steps the native engine left to Python:"] + python_steps if python_steps else []) + footer)

    def to_json(self) -> dict:
        return {"total_ms": self.total_ms, "clock": self.clock, "repeat": self.repeat, "threads": self.threads,
                "arena": self.arena, "passes": self.passes, "layers": self.rows}


TIMERS = {"wall": time.perf_counter, "cpu": time.thread_time}


def measure(executor, feeds, repeat: int = 10, warmup: int = 2, passes=None, threads: int = 1,
            clock: str = "wall") -> Profile:
    timer = TIMERS[clock]
    for _ in range(warmup):
        executor.run(feeds)
    per_step, totals = [], []
    for _ in range(repeat):
        steps: list[float] = []
        t0 = timer()
        executor.run(feeds, clock=steps, timer=timer)
        totals.append(timer() - t0)
        per_step.append(steps)
    step_ms = np.median(np.array(per_step), axis=0) * 1e3
    total_ms = float(np.median(totals) * 1e3)
    # What no step accounts for (feeding inputs, copying outputs out, the timers themselves, and
    # medians of parts not summing to the median of the whole) is a row of its own, so the rows
    # always add up to the total.
    rest_ms = total_ms - float(step_ms.sum())
    rows = []
    for step, ms in zip(executor.steps, step_ms):
        rows.append({"layer": step.node.name, "op": step.node.op + (f"+{step.spec.activation!r}"
                     if step.spec is not None and step.spec.activation.kind != "none" else ""),
                     "input": _shape(step.in_shapes[0]) if step.in_shapes else "",
                     "output": _shape(step.out_shapes[0]) if step.out_shapes else "",
                     "kernel": step.kernel, "ms": float(ms), "pct": float(100 * ms / total_ms) if total_ms else 0.0,
                     "gflops": step.flops / (ms * 1e6) if step.flops and ms > 0 else 0.0,
                     "flops": step.flops, "note": step.note, "host": step.host, "host_note": step.host_note})
    rows.append({"layer": "(rest)", "op": "outside the steps", "input": "", "output": "", "kernel": "",
                 "ms": rest_ms, "pct": float(100 * rest_ms / total_ms) if total_ms else 0.0, "gflops": 0.0,
                 "flops": 0, "note": "", "host": "", "host_note": ""})
    return Profile(rows, total_ms, repeat, threads, executor.arena.report(), list(passes or []), clock)
