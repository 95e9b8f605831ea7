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
