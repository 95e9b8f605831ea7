"""`convlab npu convert | compare | pipeline | study | bench`: the RKNN NPU path (see convlab.npu)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import ConvlabError


def _calib(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def add_conversion_options(p: argparse.ArgumentParser, spec: bool = True) -> None:
    from ..npu.convert import HYBRID_AUTO, QUANT_ALGOS, QUANT_METHODS, TARGETS
    p.add_argument("--target", default="rk3568", choices=TARGETS)
    p.add_argument("--calib", type=_calib, default=None, metavar="DIR|N",
                   help="calibration images: a folder of images / NCHW .npy pixels, or N generated (default 8)")
    p.add_argument("--quant-algo", default="normal", choices=QUANT_ALGOS)
    p.add_argument("--quant-method", default="channel", choices=QUANT_METHODS)
    p.add_argument("--fp16-layer", action="append", default=[], metavar="LAYER",
                   help="hybrid: keep this layer in fp16 (repeatable); default: chosen by --hybrid-auto")
    p.add_argument("--hybrid-auto", default="proposal", choices=HYBRID_AUTO,
                   help="hybrid without --fp16-layer: the layers the toolkit proposes (default), the "
                        "--hybrid-worst layers with the worst single-layer int8 cosine (how they compare on the "
                        "zoo: results/<device-id>/npu_compare.md), or int8 only in the heaviest layers holding "
                        "half the MACs (3DiVi's split; on the trained models: npu_real.md)")
    p.add_argument("--hybrid-worst", type=int, default=3, metavar="K")
    if spec:
        p.add_argument("--spec", default=None, help="model spec (default: MODEL.json beside the model, if present)")


def conversion_options(args, dtype: str):
    from ..npu.convert import Options
    return Options(dtype=dtype, target=args.target, calib=args.calib, quant_algo=args.quant_algo,
                   quant_method=args.quant_method, fp16_layers=tuple(args.fp16_layer),
                   hybrid_auto=args.hybrid_auto, hybrid_worst=args.hybrid_worst, spec=getattr(args, "spec", None))


def stage_placements(args):
    """--stage texts -> (placements, base conversion Options); each NPU stage gets its own dtype."""
    from ..npu.pipeline import parse_stages
    stages = parse_stages(args.stage)
    return stages, conversion_options(args, "hybrid" if args.fp16_layer else "fp16")


def add_stage_option(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("stage placement (NPU stages: the RKNN simulator on a host)")
    g.add_argument("--stage", action="extend", nargs="+", default=[], metavar="STAGE=WHERE",
                   help="detector|fitter|extractor = npu:fp16|npu:int8|npu:hybrid, cpu (the pipeline's "
                        "runner) or cpu:BACKEND (onnxruntime, numba, c, ...); e.g. --stage detector=npu:int8 "
                        "fitter=npu:fp16 extractor=cpu:c")
    add_conversion_options(g, spec=False)


def _results_dir(out: str | None = None) -> Path:
    """--out, else ./results/<device-id>/ of the working directory."""
    from ..paths import user_results_dir
    return user_results_dir(out)


def _check_out(args, *names: str) -> None:
    """Before the long work: the output folder is writable and no output is overwritten without --force."""
    from ..paths import check_output
    for name in names:
        check_output(_results_dir(args.out) / name, force=args.force)


def _write_json(report: dict, name: str, out_dir: str | None = None) -> None:
    from ..fileio import atomic_write
    out = _results_dir(out_dir) / name
    atomic_write(out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"written to {out}")


def _convert(args) -> int:
    from ..npu.convert import convert, report_path
    if args.output:
        from ..paths import check_writable_dir
        check_writable_dir(Path(args.output).parent, what="--output")
    report = convert(args.model, args.output, conversion_options(args, args.dtype))
    out = Path(report["output"])
    print(f"wrote {out} ({report['rknn_bytes']} bytes) and {report_path(out)}")
    print(f"  toolkit {report['toolkit']['toolkit']}, {report['options']['dtype']}, target {report['options']['target']}, "
          f"opset {report['opset']['model']} -> {report['opset']['toolkit']}")
    if args.dtype == "hybrid":
        print(f"  kept in fp16: {', '.join(report['fp16_layers'])}")
    for note in report["notes"]:
        print(f"  note: {note}")
    print(f"  {len(report['warnings'])} toolkit warnings (in the report)")
    return 0


def _compare(args) -> int:
    from ..npu import compare
    from ..npu.convert import DTYPES
    dtypes = [d for group in (args.dtype or [",".join(DTYPES)]) for d in group.split(",") if d]
    for d in dtypes:
        if d not in DTYPES:
            raise ConvlabError(f"unknown --dtype {d!r}; choose from {', '.join(DTYPES)}")
    if args.spec and len(args.model) > 1:
        raise ConvlabError("--spec describes one model; give one model with it (or put MODEL.json beside each)")
    _check_out(args, "npu_compare.json", "npu_compare.md")
    from ..registry import resolve_backend
    report = compare.compare(args.model, dtypes, conversion_options(args, "fp16"), n_inputs=args.inputs,
                             backend=resolve_backend(args.backend))
    js, md = compare.write(report, _results_dir(args.out))
    print(json.dumps(report, indent=2) if args.json else compare.table(report), end="")
    if not args.json:
        print(f"written to {js} and {md}")
    return 0


def _pipeline(args) -> int:
    from ..face.models import build_pipeline
    from ..npu.pipeline import face_agreement, placed
    stages, options = stage_placements(args)
    if not any(device == "npu" for device, _ in stages.values()):
        raise ConvlabError("no stage placed on the NPU: give --stage STAGE=npu:DTYPE")
    _check_out(args, "npu_pipeline.json")
    cpu = build_pipeline(runner=args.runner)
    mixed = build_pipeline(runner=args.runner)
    report = {"stages": args.stage, "cpu_runner": args.runner, "images": {}}
    with placed(mixed, stages, options) as tk:
        for image in args.image:
            report["images"][image] = face_agreement(cpu.run(image), mixed.run(image), args.iou, args.threshold)
        report["toolkit"] = tk.info
    _write_json(report, "npu_pipeline.json", args.out)
    return 0


def _study(args) -> int:
    from ..npu import study
    from ..registry import resolve_backend
    if args.worst < 1:
        raise ConvlabError(f"--worst must be >= 1, got {args.worst}")
    _check_out(args, *study.FILES)
    report = study.run(_results_dir(args.out), args.quick, photos_dir=None if args.photos is None else Path(args.photos),
                       backend=resolve_backend(args.backend), worst=args.worst)
    if args.json:
        print(json.dumps(report, indent=1, default=float))
    else:
        print(study.markdown(report))
        print("written to " + " and ".join(str(_results_dir(args.out) / f) for f in study.FILES))
    return 0


def _bench(args) -> int:
    from ..npu import board
    from ..registry import resolve_backend
    _check_out(args, "npu_bench.json")
    report = board.bench(args.rknn, repeats=args.repeats, warmup=args.warmup,
                         image=None if args.no_pipeline else args.image,
                         cpu_backend=resolve_backend(args.cpu_backend),
                         threads=args.threads)
    _write_json(report, "npu_bench.json", args.out)
    return 0


def _out_options(p) -> None:
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output directory (default ./results/<device-id>/ of the working directory)")
    p.add_argument("--force", action="store_true", help="overwrite earlier results in the output directory")


def register(subparsers) -> None:
    from ..npu.board import PIPELINE_IMAGE
    from ..npu.convert import DTYPES
    p = subparsers.add_parser("npu", help="RKNN NPU path: convert, compare in the simulator, bench on a board")
    sub = p.add_subparsers(dest="npu_command", required=True, metavar="ACTION")

    c = sub.add_parser("convert", help="ONNX -> .rknn (fp16 / int8 / hybrid) plus a JSON report")
    c.add_argument("model", help="ONNX model (a zoo export, or any single-input NCHW model)")
    c.add_argument("--dtype", default="fp16", choices=DTYPES)
    c.add_argument("-o", "--output", default=None, help="output .rknn (default MODEL.<dtype>.rknn); "
                   "the report is OUTPUT.json")
    add_conversion_options(c)
    c.set_defaults(func=_convert)

    m = sub.add_parser("compare", help="RKNN simulator vs convlab's CPU engine on the same inputs, one table")
    m.add_argument("model", nargs="+", help="ONNX models")
    m.add_argument("--dtype", action="append", default=None, metavar="D[,D...]",
                   help=f"NPU dtypes to compare (default all: {','.join(DTYPES)})")
    m.add_argument("--inputs", type=int, default=2, help="generated input images per model (default 2)")
    m.add_argument("--backend", default=None, help="convlab engine backend for the CPU path (numba or c); "
                                                   "default: convlab's default backend, c (numba when the C extension is not built)")
    m.add_argument("--json", action="store_true", help="print the full report as JSON")
    _out_options(m)
    add_conversion_options(m)
    m.set_defaults(func=_compare)

    f = sub.add_parser("pipeline", help="the zoo face pipeline with stages on the NPU (simulator) vs all on "
                       "the CPU: detection agreement, confidence error, landmark NME, template cosine")
    f.add_argument("image", nargs="+", help="image files or builtin:astronaut / builtin:camera")
    f.add_argument("--runner", default="convlab", choices=("convlab", "onnxruntime"),
                   help="CPU runner of the reference pipeline and of the stages left on the CPU")
    f.add_argument("--iou", type=float, default=0.5, help="IoU for two detections to be the same face")
    f.add_argument("--threshold", type=float, default=0.5, help="cosine for 'same person'")
    add_stage_option(f)
    _out_options(f)
    f.set_defaults(func=_pipeline)

    s = sub.add_parser("study", help="the quantization seeds on the trained face models (CenterFace, MTCNN O-Net, "
                       "the extractor): fp16 / int8 / hybrid in the simulator against fp32 -> npu_real.json/.md")
    s.add_argument("--quick", action="store_true", help="the fitter only on two images: checks the study runs")
    s.add_argument("--worst", type=int, default=3, metavar="K",
                   help="the worst-K hybrid keeps the K int8 layers with the lowest single-layer cosine in fp16")
    s.add_argument("--photos", default=None, metavar="DIR",
                   help="test photographs (default $CONVLAB_CACHE/photos, `convlab photos fetch`; without any, the "
                        "skimage astronaut, held out of calibration)")
    s.add_argument("--backend", default=None, help="convlab engine backend of the fp32 CPU reference (default c)")
    s.add_argument("--json", action="store_true", help="print the full report as JSON")
    _out_options(s)
    s.set_defaults(func=_study)

    b = sub.add_parser("bench", help="median NPU latency per .rknn and per face pipeline stage on an RK3568 "
                       "board (rknn-toolkit-lite2), next to convlab's CPU kernels, against the seed budgets")
    b.add_argument("rknn", nargs="+", help=".rknn files from `convlab npu convert` (their .json report beside)")
    b.add_argument("--repeats", type=int, default=50)
    b.add_argument("--warmup", type=int, default=5)
    b.add_argument("--image", default=PIPELINE_IMAGE, help="face pipeline input for the per-stage run, which "
                   "puts detector.*.rknn / fitter.*.rknn / extractor.*.rknn on the NPU (default %(default)s)")
    b.add_argument("--no-pipeline", action="store_true", help="per model only")
    b.add_argument("--cpu-backend", default=None, help="convlab kernels of the CPU stages and the all-CPU "
                   "pipeline; default: convlab's default backend, c (numba when the C extension is not built)")
    b.add_argument("--threads", type=int, default=1, help="CPU threads of the pipeline's CPU stages")
    _out_options(b)
    b.set_defaults(func=_bench)
