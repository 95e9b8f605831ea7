"""Graph passes. Each is ``run(graph) -> (count, details)``, switchable by name and reported.

They run in PASS_ORDER whatever order they are named in: folding constants first exposes the
Conv -> BatchNormalization pairs, folding BN first exposes Conv -> activation pairs. Every pass
keeps the model's outputs (tests/test_engine_passes.py checks each against onnxruntime).
"""
from __future__ import annotations

from ..errors import ModelInputError
from ..graph import Graph
from .. import shapes
from . import dead_nodes, flush_subnormals, fold_bn, fold_constants, fold_pad, fuse_activation, fuse_matmul_add

PASSES = {
    "fold_constants": fold_constants.run,
    "fold_pad": fold_pad.run,
    "fold_bn": fold_bn.run,
    "fuse_matmul_add": fuse_matmul_add.run,
    "fuse_activation": fuse_activation.run,
    "flush_subnormals": flush_subnormals.run,
    "dead_nodes": dead_nodes.run,
}
PASS_ORDER = list(PASSES)
DEFAULT_PASSES = tuple(PASS_ORDER)


def parse_passes(passes) -> list[str]:
    """None/"all" -> every pass; "none"/"" -> none; "a,b" or a list -> those, checked by name."""
    if passes is None or passes == "all":
        return list(DEFAULT_PASSES)
    if isinstance(passes, str):
        passes = [p.strip() for p in passes.split(",") if p.strip() and p.strip() != "none"]
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise ModelInputError(f"unknown pass(es) {unknown}; known: {', '.join(PASS_ORDER)}, or all / none")
    return [p for p in PASS_ORDER if p in passes]


def run_passes(graph: Graph, passes) -> list[dict]:
    """Apply the named passes in place; returns one report entry per pass run."""
    report = []
    for name in parse_passes(passes):
        count, details = PASSES[name](graph)
        shapes.infer(graph)   # passes rename and remove values; keep the shape table exact
        report.append({"pass": name, "changed": count, "details": details})
    return report
