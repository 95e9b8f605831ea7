"""Per-stage latency of the pipeline under several kernel choices, measured interleaved.

Each choice ("onnxruntime", or "BACKEND[:CONV]" for convlab's engine, e.g. "numba:auto",
"c:im2col") gets its own pipeline over the same models. After one warm-up run each, the
pipelines run round-robin, so a load change on a shared machine hits every choice alike; each
stage's median over the rounds is reported with the RK3568 budget verdicts for this machine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConvlabError
from .budgets import BUDGETS_MS, verdicts
from .image import load_image
from .models import build_pipeline
from .runners import engine_options

STAGE_ORDER = ("load", "detector", "fitter", "align", "extractor", "compare")


@dataclass
class ChoiceLatency:
    choice: str
    clock: str                    # "wall" or "cpu" (CPU time of the calling thread)
    stages: dict[str, float]      # median ms per stage
    spread: dict[str, float]      # (max - min) / median per stage over the rounds
    faces: int
    budgets: dict


def parse_choice(choice: str, passes=None) -> tuple[str, dict]:
    backend, _, conv = choice.partition(":")
    return engine_options(backend, conv=conv or "auto", passes=None if backend == "onnxruntime" else passes)


def measure(image, choices: list[str], *, repeat: int = 5, threads: int = 1, passes=None, clock: str = "wall",
            **pipeline_options) -> list[ChoiceLatency]:
    """clock "cpu" times each stage by the calling thread's CPU time: on a machine shared with other
    work it leaves out the time the core was given to someone else. Only meaningful single-threaded."""
    if clock not in ("wall", "cpu"):
        raise ConvlabError(f"clock must be wall or cpu, got {clock!r}")
    if clock == "cpu" and threads != 1:
        raise ConvlabError("the cpu clock measures one thread; use it with threads=1")
    rgb = load_image(image)
    pipes = {}
    for c in choices:
        runner, opts = parse_choice(c, passes)
        pipes[c] = build_pipeline(runner=runner, engine_options=opts, threads=threads, **pipeline_options)
    from ..progress import bar
    for p in bar(pipes.values(), desc="warm-up", unit="choice"):
        p.run(rgb)                                   # warm-up: JIT compilation, first-touch allocations
    runs: dict[str, list] = {c: [] for c in choices}
    for _ in bar(range(repeat), desc="face-latency", unit="round"):
        for c, p in pipes.items():
            runs[c].append(p.run(image))
    out = []
    for c, rs in runs.items():
        stages = [k for k in STAGE_ORDER if k in rs[-1].stages]
        per = {k: np.array([(r.stages if clock == "wall" else r.cpu_stages)[k] for r in rs]) for k in stages}
        med = {k: float(np.median(v)) for k, v in per.items()}
        spread = {k: float((v.max() - v.min()) / med[k]) if med[k] > 0 else 0.0 for k, v in per.items()}
        out.append(ChoiceLatency(c, clock, med, spread, len(rs[-1].faces),
                                 verdicts(med, len(rs[-1].faces))))
    return out


def table(results: list[ChoiceLatency]) -> str:
    from tabulate import tabulate
    ref = next((r for r in results if r.choice == "onnxruntime"), None)
    rows = []
    for r in results:
        row = [r.choice] + [f"{r.stages.get(k, 0.0):.2f}" for k in STAGE_ORDER]
        for name in BUDGETS_MS:
            b = r.budgets[name]
            row.append("n/a" if b["pass"] is None else f"{b['ms']:.1f} {'PASS' if b['pass'] else 'FAIL'}")
        if ref is not None:
            nets = ("detector", "fitter", "extractor")
            row.append(f"{sum(r.stages.get(k, 0) for k in nets) / sum(ref.stages.get(k, 0) for k in nets):.2f}x")
        rows.append(row)
    headers = ["choice"] + [f"{k} ms" for k in STAGE_ORDER] + [f"{k} (<= {v:.0f} ms)" for k, v in BUDGETS_MS.items()]
    if ref is not None:
        headers.append("networks / onnxruntime")
    return tabulate(rows, headers=headers, disable_numparse=True)
