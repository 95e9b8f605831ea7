"""`convlab optimize IN.onnx OUT.onnx`: apply graph passes and write standard ONNX, checked in onnxruntime."""
from __future__ import annotations

import json

import numpy as np

from . import cliargs
from ..engine.loader import read_model


def register(subparsers) -> None:
    p = subparsers.add_parser("optimize", help="apply graph passes to an ONNX model and write the result",
                              description="Apply graph passes and write standard ONNX. The written model is "
                                          "specialised to the input shape (--shape, or the declared one): shape "
                                          "arithmetic is folded for it and its inputs are declared with it.")
    cliargs.add_model_args(p, kernels=False)
    p.add_argument("output", help="where to write the optimised ONNX model (never the input model)")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("--no-check", action="store_true",
                   help="skip running both models in onnxruntime on a random input to compare them")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..paths import check_output
    from .compare import ort_session
    check_output(args.output, force=args.force, inputs=[args.model], what="optimised model")
    model = cliargs.load(args, backend="numpy", conv="reference")   # kernels are not needed to rewrite a graph
    model.save(args.output)
    result = {"input": args.model, "output": args.output, "passes": model.pass_report,
              "nodes_before": len(read_model(args.model).graph.node), "nodes_after": len(model.to_onnx().graph.node)}
    if not args.no_check:
        feeds = model.random_inputs()
        shapes = {k: shape for k, (shape, dtype) in model.inputs.items()}
        before = ort_session(args.model, 1, shapes).run(None, feeds)
        after = ort_session(args.output, 1).run(None, feeds)
        result["check_max_rel_err"] = max(
            float(np.abs(a.astype(np.float64) - b).max() / max(float(np.abs(b).max()), 1e-30)) if b.size else 0.0
            for a, b in zip(after, before))
    if args.json:
        print(json.dumps(cliargs.to_jsonable(result), indent=1))
        return 0
    print(cliargs.pass_table(model.pass_report))
    print(f"\nwrote {args.output}: {result['nodes_before']} -> {result['nodes_after']} nodes")
    if "check_max_rel_err" in result:
        print(f"onnxruntime, original vs optimised on a random input: max rel err {result['check_max_rel_err']:.3g}")
    return 0
