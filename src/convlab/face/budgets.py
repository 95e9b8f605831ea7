"""The RK3568 latency budgets (3DiVi's access-control study, seeds 000/001) and their verdicts.

Budgets are per recognised face, as in the study: one detector pass plus fitting one face must
take <= 40 ms; extracting one template (aligning the face, then the extractor network) plus
comparing two templates <= 500 ms. With several faces the per-face fitter/align/extractor/compare
times are the stage totals divided by the face count.
Verdicts are for the machine the pipeline ran on, which is usually not the board.
"""
from __future__ import annotations

import os
import platform

from ..device import cpu_model

BUDGETS_MS = {"detector+fitter": 40.0, "extraction+comparison": 500.0}
# The stages each budget adds up.
BUDGET_STAGES = {"detector+fitter": ("detector", "fitter"), "extraction+comparison": ("align", "extractor", "compare")}
SIMULATED_NOTE = "includes RKNN simulator time (not NPU latency): no verdict"


def machine_description() -> str:
    return f"this host ({cpu_model()}, {platform.machine()}, {os.cpu_count()} CPUs), not the RK3568 board"


def verdicts(stages: dict[str, float], n_faces: int, simulated=()) -> dict:
    """{budget: {"ms", "limit_ms", "pass"}} plus "machine". With no face, detector+fitter is the
    detector alone and extraction+comparison has ms and pass None. A budget that adds up a stage in
    `simulated` (run by the RKNN simulator: its time says nothing about the board's NPU) gets pass
    None and "simulated": True -- never a PASS or FAIL."""
    n = max(n_faces, 1)
    got = {"detector+fitter": stages.get("detector", 0.0) + stages.get("fitter", 0.0) / n,
           "extraction+comparison": sum(stages.get(k, 0.0) for k in ("align", "extractor", "compare")) / n
           if n_faces else None}
    out: dict = {}
    for name, limit in BUDGETS_MS.items():
        ms = got[name]
        sim = any(s in simulated for s in BUDGET_STAGES[name])
        out[name] = {"ms": None if ms is None else round(ms, 3), "limit_ms": limit,
                     "pass": None if ms is None or sim else bool(ms <= limit)}
        if sim:
            out[name].update(simulated=True, note=SIMULATED_NOTE)
    out["machine"] = machine_description()
    return out
