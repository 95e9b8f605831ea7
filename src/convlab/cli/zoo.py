"""`convlab zoo list` and `convlab zoo export DIR`."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("zoo", help="build and export the seeded model zoo",
                       description="Real architectures (MobileNetV1/V2, face detector, fitter, extractor) "
                                   "built as ONNX with seeded He weights and BN statistics calibrated on "
                                   "generated images. Untrained: outputs are meaningless but well scaled.")
    zsub = p.add_subparsers(dest="zoo_command", required=True, metavar="SUBCOMMAND")
    ls = zsub.add_parser("list", help="list the zoo's models")
    ls.set_defaults(func=_list)
    ex = zsub.add_parser("export", help="write DIR/<model>.onnx and DIR/<model>.json (the ModelSpec)")
    ex.add_argument("dir", help="output directory (created if missing)")
    ex.add_argument("--models", nargs="+", metavar="NAME",
                    help="models to export (default: the five of the studies); comma-separated also accepted")
    ex.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    ex.add_argument("--subnormal-fraction", type=float, default=0.0, metavar="F",
                    help="replace this fraction of every conv's weights with float32 subnormals")
    ex.add_argument("--json", action="store_true", help="print the export report as JSON")
    ex.add_argument("--force", action="store_true", help="overwrite models already exported to DIR")
    ex.set_defaults(func=_export)


def _list(args) -> int:
    from ..zoo import DEFAULT_MODELS, MODELS
    for name in MODELS:
        print(name + ("" if name in DEFAULT_MODELS else "  (not exported by default)"))
    return 0


def _export(args) -> int:
    from tabulate import tabulate

    from ..errors import ConvlabError
    from ..zoo import DEFAULT_MODELS, MODELS, build_model, export_model
    names = [n for m in (args.models or DEFAULT_MODELS) for n in m.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ConvlabError(f"unknown zoo model(s) {', '.join(unknown)}; available: {', '.join(MODELS)}")
    from pathlib import Path

    from ..paths import check_output, check_writable_dir
    from ..progress import bar
    check_writable_dir(args.dir, what="zoo export")
    for name in names:
        for ext in (".onnx", ".json"):
            check_output(Path(args.dir) / f"{name}{ext}", force=args.force, what="zoo export")
    rows = []
    for name in bar(names, desc="zoo export", unit="model"):
        zm = build_model(name, seed=args.seed, subnormal_fraction=args.subnormal_fraction)
        onnx_path, spec_path = export_model(zm, args.dir)
        rows.append({"model": name, "onnx": str(onnx_path), "spec": str(spec_path),
                     "params": zm.stats.params, "macs": zm.stats.macs, "conv_layers": zm.stats.conv_layers,
                     "depthwise_layers": zm.stats.depthwise_layers, "batchnorms": len(zm.pre_bn_std),
                     "subnormal_weights": zm.subnormal_count,
                     "conv_weights": sum(s.weights for s in zm.subnormals) if zm.subnormals else None,
                     "build_seconds": round(zm.build_seconds, 3),
                     "subnormal_layers": [s.__dict__ for s in zm.subnormals]})
    if args.json:
        print(json.dumps({"seed": args.seed, "subnormal_fraction": args.subnormal_fraction, "models": rows}, indent=2))
    else:
        print(tabulate([[r["model"], f"{r['params'] / 1e6:.2f} M", f"{r['macs'] / 1e6:.0f} M", r["conv_layers"],
                         r["batchnorms"], r["subnormal_weights"], f"{r['build_seconds']:.2f}", r["onnx"]] for r in rows],
                       headers=["model", "params", "MACs", "convs", "BNs", "subnormal w", "build s", "file"]))
    return 0
