"""`convlab study nms|nms-real|verify|fusion|subnormal`: reproduce a seed study's table on this machine."""
from __future__ import annotations

import argparse
import json


# What each study writes into its output folder (checked before the study starts: nothing is overwritten
# without --force).
FILES = {"nms": ["nms_topk.json", "nms_topk.csv", "nms_stages.csv", "nms_topk.md", "nms_topk.png"],
         "nms-real": ["nms_real.json", "nms_real.csv", "nms_real_detections.csv", "nms_real.md"],
         "verify": ["verify.json", "verify.csv", "verify_roc.csv", "verify_sizes.csv", "verify_templates.csv",
                    "verify.md", "verify.png"],
         "fusion": ["fusion.json", "fusion.csv", "fusion.md", "fusion.png"],
         "subnormal": ["subnormal.json", "subnormal_weights.csv", "subnormal_activations.csv", "subnormal_latency.csv",
                       "subnormal_microbench.csv", "subnormal_probes.csv", "subnormal.md", "subnormal.png"]}


def register(sub) -> None:
    from ..studies import STUDIES, __doc__ as doc
    p = sub.add_parser("study", help="reproduce a seed study (NMS top-k, fusion, subnormals) on this machine",
                       description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=STUDIES, help="which study")
    p.add_argument("--out", metavar="DIR", help="output directory (default ./results/<device-id>/ of the working "
                                                "directory)")
    p.add_argument("--force", action="store_true", help="overwrite the study's earlier results in the output directory")
    p.add_argument("--quick", action="store_true",
                   help="tiny repeat counts, one image, one model: checks the study runs; timings mean nothing")
    p.add_argument("--json", action="store_true", help="print the result rows as JSON")
    p.add_argument("--model", metavar="X.onnx", help="subnormal: study this ONNX model instead of the zoo")
    p.add_argument("--real", action="store_true",
                   help="subnormal: study every trained model in the cache (`convlab models list`) on a photograph")
    p.add_argument("--threads", default="1,2", help="nms: thread counts (default 1,2)")
    p.add_argument("--models", help="fusion: comma-separated zoo models (default the five)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..errors import ConvlabError
    from ..studies import fusion, nms, nms_real, subnormal, verify
    from ..paths import check_output
    from ..studies.output import out_dir
    if (args.model or args.real) and args.name != "subnormal":
        raise ConvlabError("--model and --real apply to the subnormal study only")
    if args.model and args.real:
        raise ConvlabError("give --model or --real, not both")
    for name in FILES[args.name]:
        check_output(out_dir(args.out) / name, force=args.force, inputs=[args.model], what="study output")
    if args.name == "nms":
        try:
            threads = tuple(int(t) for t in args.threads.split(","))
        except ValueError:
            raise ConvlabError(f"--threads must be comma-separated integers, got {args.threads!r}") from None
        if not threads or min(threads) < 1 or 1 not in threads:
            raise ConvlabError(f"--threads must include 1 (the reference) and be positive, got {args.threads!r}")
        result = nms.run(args.out, args.quick, threads=threads)
    elif args.name == "nms-real":
        result = nms_real.run(args.out, args.quick)
    elif args.name == "verify":
        result = verify.run(args.out, args.quick)
    elif args.name == "fusion":
        result = fusion.run(args.out, args.quick, models=args.models.split(",") if args.models else None)
    else:
        result = subnormal.run(args.out, args.quick, model=args.model, real=args.real)
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        from ..studies.output import out_dir
        d = out_dir(args.out)
        print("\n".join(str(d / f) for f in result["files"]))
    return 0
