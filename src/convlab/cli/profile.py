"""`convlab profile MODEL.onnx`: per-layer time, kernel, GFLOP/s and activation memory of a model."""
from __future__ import annotations

import json

from . import cliargs


def register(subparsers) -> None:
    p = subparsers.add_parser("profile", help="per-layer profile of an ONNX model run by convlab")
    cliargs.add_model_args(p)
    cliargs.add_input_arg(p)
    p.add_argument("--repeat", type=int, default=10, help="timed runs (the profile shows medians)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: thread CPU time, which leaves out time other processes take on a busy machine")
    p.add_argument("--save-overrides", metavar="FILE",
                   help="write each conv layer's chosen kernel (e.g. after --conv tune) as an overrides file "
                        "(.json, or .yaml/.yml) for --overrides")
    p.set_defaults(func=run)


def run(args) -> int:
    arrays = cliargs.input_arrays(args.model, args.input)
    model = cliargs.load(args, arrays)
    if args.save_overrides:
        cliargs.write_overrides(args.save_overrides, model.kernel_overrides())
    feeds = {**model.random_inputs(), **arrays} if arrays else None
    prof = model.profile(feeds, repeat=max(1, args.repeat), warmup=max(0, args.warmup), clock=args.clock)
    if args.json:
        print(json.dumps(cliargs.to_jsonable({"model": args.model, "inputs": model.inputs, **model.options,
                                              **prof.to_json(), "auto_choice": auto_sources(model)}), indent=1))
    else:
        print(cliargs.pass_table(model.pass_report))
        print()
        print(prof.table())
        sources = auto_sources(model)
        if sources:
            from collections import Counter
            n = Counter(sources.values())
            print(f"\nalgo=auto chose {len(sources)} conv layer(s): " + ", ".join(
                f"{n[k]} {label}" for k, label in SOURCE_LABELS.items() if n[k]))
            print("  " + "; ".join(f"{layer}: {how}" for layer, how in sources.items()))
    return 0


SOURCE_LABELS = {"exact": "from an exact measured entry", "rules": "by the learned rules",
                 "neighbour": "from the nearest measured shape (outside the rules' ranges)",
                 "builtin": "by the built-in rule"}


def auto_sources(model) -> dict[str, str]:
    """{conv layer: where algo=auto's choice came from} (see ConvPlan.choice); layers not chosen by auto
    are left out."""
    out = {}
    for step in getattr(getattr(model, "executor", None), "steps", ()):
        how = getattr(step, "choice", None)
        node = getattr(step, "node", None)
        if how and getattr(step, "spec", None) is not None and node is not None:
            out[node.name] = how
    return out
