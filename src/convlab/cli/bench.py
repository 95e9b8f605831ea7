"""`convlab bench conv`: time kernels and peer libraries on one conv shape, same run, as a table or JSON."""
from __future__ import annotations

import json

from ..errors import ConvInputError
from ..spec import ConvSpec


def _csv(s: str | None) -> list[str] | None:
    if s is None or s == "all":
        return None
    return [t.strip() for t in s.split(",") if t.strip()]


def _shape(s: str) -> tuple[int, ...]:
    try:
        v = tuple(int(t) for t in s.split(","))
    except ValueError:
        raise ConvInputError(f"--shape must be CIN,COUT,H,W,K,STRIDE integers, got {s!r}") from None
    if len(v) != 6:
        raise ConvInputError(f"--shape needs 6 values CIN,COUT,H,W,K,STRIDE, got {len(v)}: {s!r}")
    return v


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmark kernels against peer libraries")
    sub = p.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    c = sub.add_parser("conv", help="one conv shape: every kernel and peer, checked then timed in the same run")
    c.add_argument("--shape", default="64,64,56,56,3,1", help="CIN,COUT,H,W,K,STRIDE")
    c.add_argument("--padding", type=int, default=None, help="symmetric padding (default K//2, 'same' at stride 1)")
    c.add_argument("--batch", type=int, default=1)
    c.add_argument("--algo", default="all", help="all or a comma list, e.g. im2col,winograd_f23")
    c.add_argument("--backend", default=None, help="numba, c, all or a comma list; default: convlab's default "
                                                   "backend, c (numba when the C extension is not built)")
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--decision-table", metavar="FILE",
                   help="decision table algo=auto reads (default: $CONVLAB_DECISION_TABLE if set, else the one shipped "
                        "for this device, results/<device-id>/decision.json of convlab's data)")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--groups", type=int, default=1)
    g.add_argument("--depthwise", action="store_true", help="groups = CIN = COUT")
    c.add_argument("--activation", default=None, help="none, relu, relu6, sigmoid, hardswish, leaky_relu")
    c.add_argument("--peers", default="onnxruntime,ncnn,torch", help="comma list, or 'none'")
    c.add_argument("--repeats", type=int, default=7, help="minimum timed samples per candidate")
    c.add_argument("--min-time", type=float, default=0.5, help="minimum seconds of timing for the whole set")
    c.add_argument("--max-time", type=float, default=20.0, help="give up refining precision after this many seconds")
    c.add_argument("--precision", type=float, default=0.05, help="target IQR/median")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=run_conv)
    m = sub.add_parser("models", help="whole models end to end: convlab vs onnxruntime vs ncnn, one interleaved run",
                       description="Each model's outputs from convlab (Model.load with its defaults), onnxruntime "
                                   "and ncnn (the same ONNX converted by pnnx, fp32, cached under "
                                   "$CONVLAB_CACHE/pnnx) are checked against onnxruntime, then the runners are timed "
                                   "in turns. MODEL: a zoo name, a real model (centerface, mtcnn_rnet, ... or "
                                   "builtin:NAME; `convlab models list`) or a path to an .onnx file.")
    m.add_argument("models", nargs="*", metavar="MODEL",
                   help="models to run (default: the five zoo models: mobilenet_v1 mobilenet_v2 detector fitter extractor)")
    m.add_argument("--real", action="store_true", help="add the real trained models centerface, mtcnn_rnet, mtcnn_onet, "
                                                          "mobileface (realmodels.BENCH_DEFAULT)")
    m.add_argument("--threads", type=int, default=1, help="threads for every runtime (default 1)")
    m.add_argument("--repeat", type=int, default=20, help="timed rounds, every runner once per round (default 20)")
    m.add_argument("--warmup", type=int, default=3, help="untimed calls per runner first (default 3)")
    m.add_argument("--clock", choices=["cpu", "wall"], default=None,
                   help="cpu: thread CPU time (default at 1 thread); wall: perf_counter (default, and required, with threads > 1)")
    m.add_argument("--convlab-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra Model.load keyword for convlab, e.g. backend=c or conv=tune (repeatable; VALUE read as YAML)")
    m.add_argument("--peers", default="onnxruntime,ncnn",
                   help="peers to time: comma list of onnxruntime,ncnn (the default), or none; onnxruntime is always the reference")
    m.add_argument("--shape", action="append", default=[], metavar="NAME=1,3,H,W",
                   help="fix a file model's input shape (repeatable)")
    m.add_argument("--profile", action="store_true", help="also convlab's per-layer profile: where the time goes")
    m.add_argument("--json", action="store_true", help="print the result as JSON instead of the table")
    m.add_argument("--out", metavar="FILE", help="also write the JSON result here (atomically)")
    m.add_argument("--no-progress", action="store_true", help="no progress bar")
    m.set_defaults(func=run_models)


def build_spec(args) -> tuple[ConvSpec, tuple[int, int, int, int]]:
    c_in, c_out, h, w, k, stride = _shape(args.shape)
    if args.depthwise and c_in != c_out:
        raise ConvInputError(f"--depthwise needs CIN == COUT, got {c_in} and {c_out}")
    groups = c_in if args.depthwise else args.groups
    if args.batch < 1 or args.threads < 1:
        raise ConvInputError("--batch and --threads must be >= 1")
    padding = k // 2 if args.padding is None else args.padding
    act = None if args.activation in (None, "none") else args.activation
    spec = ConvSpec.build(c_in, c_out, k, k, stride=stride, padding=padding, groups=groups, activation=act,
                          has_bias=True)
    input_shape = (args.batch, c_in, h, w)
    spec.output_hw(h, w)
    return spec, input_shape


def run_conv(args) -> int:
    from ..bench.conv import bench_conv
    from ..bench.report import format_conv_table
    spec, input_shape = build_spec(args)
    peers = [] if args.peers in ("", "none") else _csv(args.peers) or []
    from ..registry import resolve_backend
    backends = _csv(resolve_backend(args.backend))
    result = bench_conv(spec, input_shape, algos=_csv(args.algo), backends=backends, peers=peers,
                        threads=args.threads, seed=args.seed,
                        timing=dict(repeats=args.repeats, min_time=args.min_time, max_time=args.max_time,
                                    rel_precision=args.precision), progress=True)
    print(json.dumps(result, indent=2) if args.json else format_conv_table(result))
    return 0


def _options(pairs: list[str]) -> dict:
    import yaml
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConvInputError(f"--convlab-option must be KEY=VALUE with KEY a Model.load keyword, got {p!r}")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    if "threads" in out:
        raise ConvInputError("--convlab-option threads=...: use --threads, which applies to every runtime")
    return out


def run_models(args) -> int:
    from ..bench import models as bm
    from ..fileio import atomic_write
    options = _options(args.convlab_option)
    peers = tuple(p for p in (_csv(args.peers) or []) if p != "none")
    unknown = [p for p in peers if p not in bm.PEERS]
    if unknown:
        raise ConvInputError(f"--peers: unknown {', '.join(unknown)}; choose from {', '.join(bm.PEERS)}")
    targets = bm.resolve(args.models, real=args.real, shapes=args.shape)
    result = bm.run(targets, threads=args.threads, repeat=args.repeat, warmup=args.warmup, clock=args.clock,
                    convlab_options=options, peers=peers, profile=args.profile, progress=not args.no_progress)
    text = json.dumps(result, indent=1)
    if args.out:
        atomic_write(args.out, text + "\n")
    print(text if args.json else bm.format_table(result))
    return 0
