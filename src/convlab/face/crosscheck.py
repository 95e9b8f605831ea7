"""Stage-by-stage agreement of two pipelines (e.g. convlab's engine against onnxruntime).

The reference pipeline runs the image while every network call is recorded; each recorded input
is then fed to the other pipeline's network of the same stage, so a difference is pinned to one
stage instead of being amplified (or hidden) by the thresholds downstream. The end-to-end results
are compared too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .pipeline import FacePipeline, Result

STAGES = ("detector", "fitter", "extractor")


class Recording:
    """A runner wrapper that keeps every (feeds, outputs) pair it passes through."""

    def __init__(self, runner):
        self.runner = runner
        self.input_names, self.output_names = runner.input_names, runner.output_names
        self.calls: list[tuple[dict, dict]] = []

    def __call__(self, feeds):
        out = self.runner(feeds)
        self.calls.append((feeds, out))
        return out


@dataclass
class StageDiff:
    stage: str
    calls: int
    max_abs: float           # largest |other - reference| over every output element of every call
    max_ref: float           # largest |reference| (the scale max_abs is measured against)
    problems: list[str] = field(default_factory=list)   # e.g. an output of another shape

    @property
    def relative(self) -> float:
        return self.max_abs / max(self.max_ref, 1e-30)


def stage_diffs(image, reference: FacePipeline, other: FacePipeline) -> tuple[dict[str, StageDiff], Result, Result]:
    nets = {s: getattr(reference, s) for s in STAGES if getattr(reference, s) is not None}
    recs = {}
    try:
        for s, net in nets.items():
            recs[s] = net.runner = Recording(net.runner)
        ref_result = reference.run(image)
    finally:
        for s, rec in recs.items():
            nets[s].runner = rec.runner
    diffs = {}
    for s, rec in recs.items():
        other_net = getattr(other, s)
        if other_net is None:
            continue
        max_abs = max_ref = 0.0
        problems = []
        for feeds, ref_out in rec.calls:
            got = other_net.runner(feeds)
            for name, r in ref_out.items():
                r = np.asarray(r, np.float64)
                g = np.asarray(got[name], np.float64)
                if g.shape != r.shape:
                    problems.append(f"output {name}: shape {g.shape}, reference {r.shape}")
                    max_abs = float("inf")
                    continue
                max_abs = max(max_abs, float(np.abs(g - r).max(initial=0.0)))
                max_ref = max(max_ref, float(np.abs(r).max(initial=0.0)))
        diffs[s] = StageDiff(s, len(rec.calls), max_abs, max_ref, problems)
    return diffs, ref_result, other.run(image)
