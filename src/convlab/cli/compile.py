"""`convlab compile MODEL.onnx -o NAME.clp`: the native plan as one file for convlab-run (no Python)."""
from __future__ import annotations

import json
import os

from . import cliargs
from ..engine.native import TARGETS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compile", help="compile a model into a plan file (.clp) that convlab-run times without Python",
        description="Compile the optimised graph into one versioned, checksummed plan file: the C steps, the "
                    "arena layout, the weights and the kernel chosen per layer (--conv/--overrides; `auto` reads "
                    "this machine's decision table, so for another device pass that device's choices with "
                    "--overrides). The weights are packed when convlab-run loads the plan, for the CPU it runs "
                    "on. Run it with csrc/build/convlab-run (x86-64) or csrc/build/convlab-run-aarch64.")
    cliargs.add_model_args(p)
    p.add_argument("-o", "--output", required=True, help="the plan file to write (.clp)")
    p.add_argument("--target", default="host", choices=["host", *TARGETS],
                   help="the architecture the plan is for (default: this machine's)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import ConvlabError
    from ..fileio import atomic_write
    if os.path.exists(args.output) and not args.force:
        raise ConvlabError(f"{args.output} exists; pass --force to overwrite it")
    if os.path.abspath(args.output) == os.path.abspath(args.model):
        raise ConvlabError("the output would overwrite the input model")
    if args.engine == "python":
        raise ConvlabError("a plan is the native engine's: --engine python cannot be compiled")
    model = cliargs.load(args, engine="native")
    data = model.executor.plan_bytes(args.target)
    atomic_write(args.output, data)
    kernels = model.kernel_overrides()
    summary = {"model": args.model, "plan": args.output, "target": args.target, "bytes": len(data),
               "steps": model.executor.n_records, "arena_bytes": model.memory["peak_bytes"], "kernels": kernels}
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{args.output}: {len(data) / 2**20:.2f} MiB, {summary['steps']} steps, "
              f"{summary['arena_bytes'] / 2**20:.2f} MiB arena, target {args.target}")
        for layer, kernel in kernels.items():
            print(f"  {layer}: {kernel}")
    return 0
